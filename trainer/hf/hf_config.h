// The config.json of a Hugging Face NemotronH checkpoint (transformers'
// NemotronHConfig) against the recipe's LlmArch: written on export, checked
// on import, so that a checkpoint of another architecture fails at the
// border with every difference named instead of as a shape error deep in
// loading (or, worse, loading and computing something else).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "hetero/recipe.h"

namespace hetero {

// Parses DIR/config.json. Non-finite floats are accepted in the two forms
// checkpoints carry: transformers 5's {"__float__": "Infinity"} and the bare
// Infinity / NaN that Python's json module writes (older NemotronH configs).
nlohmann::json read_hf_config(const std::string& dir);

// The layer pattern (M Mamba-2, * attention, - MLP, E MoE) from
// layers_block_type (transformers 5) or hybrid_override_pattern (earlier).
std::string hf_layer_pattern(const nlohmann::json& config);

// Throws ConfigError with one line per problem: each key of `config` whose
// value differs from the recipe's (the key, both values and the --set that
// would match), and each setting our forward does not compute (e.g. another
// RMSNorm epsilon). `where` names the checkpoint in the messages.
void check_hf_config(const nlohmann::json& config, const LlmArch& arch, const std::string& where);

// config.json for `arch`, loadable by transformers' NemotronHForCausalLM:
// every architecture field, and the fixed choices of our forward (squared
// ReLU, no biases, RMSNorm epsilon 1e-5, untied output layer). dtype is
// "float32" or "bfloat16".
nlohmann::json hf_config_for(const LlmArch& arch, const std::string& dtype);

}  // namespace hetero
