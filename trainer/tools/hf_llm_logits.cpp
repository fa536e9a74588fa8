#include "hetero/errors.h"
#include "tools/hf_commands.h"

namespace hetero {

int hf_llm_logits(int, char**) { throw ConfigError("not implemented yet"); }

}  // namespace hetero
