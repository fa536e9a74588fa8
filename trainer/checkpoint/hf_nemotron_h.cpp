#include "checkpoint/hf_nemotron_h.h"

#include "hetero/errors.h"

namespace hetero {

void load_hf_nemotron_h(LanguageModel&, const std::string& dir, const LlmArch&) {
  throw ConfigError("--llm-init-from-hf " + dir + ": not implemented yet");
}

}  // namespace hetero
