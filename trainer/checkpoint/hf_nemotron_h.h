// Hugging Face NemotronH checkpoints (NemotronHForCausalLM): import into
// any LLM layout, export for transformers.
#pragma once

#include <string>

#include "hetero/recipe.h"
#include "model/language_model.h"

namespace hetero {

// Loads this rank's part of the LLM (its pipeline stage, its tp / ep / etp
// shards) from a Hugging Face NemotronH checkpoint folder.
void load_hf_nemotron_h(LanguageModel& llm, const std::string& dir, const LlmArch& arch);

}  // namespace hetero
