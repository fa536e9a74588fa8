// What a module's parallel degrees (and its own grouped widths) must divide:
// one table per module, used by the plan (plan_topology), the recipe's value
// rules and the model constructors, so each rule is written once.
#pragma once

#include <string>
#include <vector>

#include "hetero/recipe.h"

namespace hetero {

class ProblemList;

// `divisor` must divide `of`. Both are named as the user writes them
// (a recipe key, e.g. scales.tiny.llm.tp and model.llm.num_attention_heads).
struct DivisibilityRule {
  std::string divisor;
  int divisor_value = 1;
  std::string of;
  int value = 0;
  std::string fix;
};

// The degrees a module's layers are split by.
struct SplitDegrees {
  int tp = 1, pp = 1, ep = 1, etp = 1;
};

// The language model's rules at `degrees`; `degree_key` prefixes the degree
// names (e.g. "scales.tiny.llm" gives scales.tiny.llm.tp). Rules of layer
// kinds the pattern lacks are left out.
std::vector<DivisibilityRule> llm_divisibility(const LlmArch& arch, const SplitDegrees& degrees,
                                               const std::string& degree_key);
// The encoder's rules (tp only; it has no pipeline or experts).
std::vector<DivisibilityRule> encoder_divisibility(const EncoderArch& arch, int tp, const std::string& degree_key);

// One problem per broken rule: "A=a does not divide B=b; fix".
void check_divisibility(const std::vector<DivisibilityRule>& rules, ProblemList& problems);
// The same, thrown as one ConfigError (what the model constructors call).
void require_divisibility(const std::vector<DivisibilityRule>& rules);

}  // namespace hetero
