#include "hetero/errors.h"
#include "tools/hf_commands.h"

namespace hetero {

int hf_llm_export(int, char**) { throw ConfigError("not implemented yet"); }

}  // namespace hetero
