#include "hetero/split_rules.h"

#include "hetero/errors.h"

namespace hetero {

std::vector<DivisibilityRule> llm_divisibility(const LlmArch& a, const SplitDegrees& d, const std::string& key) {
  const std::string m = "model.llm.";
  std::vector<DivisibilityRule> r;
  r.push_back({key + ".tp", d.tp, m + "num_attention_heads", a.num_attention_heads, "choose a tp that divides the heads"});
  r.push_back({key + ".tp", d.tp, m + "ffn_hidden_size", a.ffn_hidden_size, "choose a tp that divides the FFN width"});
  r.push_back({key + ".pp", d.pp, m + "num_layers", a.num_layers, "choose a pp that divides the layers"});
  // The vocabulary is split over tp (vocab-parallel embedding and loss).
  r.push_back({key + ".tp", d.tp, m + "vocab_size", a.vocab_size, "choose a tp that divides it"});
  if (a.count_layers('*') > 0) {
    r.push_back({m + "num_query_groups", a.num_query_groups, m + "num_attention_heads", a.num_attention_heads,
                 "choose a divisor"});
    r.push_back({key + ".tp", d.tp, m + "num_query_groups", a.num_query_groups,
                 "choose a tp that divides the key-value heads"});
  }
  if (a.count_layers('M') > 0) {
    r.push_back({m + "n_groups", a.n_groups, m + "mamba_num_heads", a.mamba_num_heads, "choose a divisor"});
    r.push_back({key + ".tp", d.tp, m + "mamba_num_heads", a.mamba_num_heads, "choose a tp that divides the Mamba-2 heads"});
    r.push_back({key + ".tp", d.tp, m + "n_groups", a.n_groups, "choose a tp that divides the Mamba-2 groups"});
  }
  if (a.count_layers('E') > 0 && a.num_experts > 0) {
    r.push_back({key + ".ep", d.ep, m + "n_routed_experts", a.num_experts, "choose an ep that divides the experts"});
    r.push_back({key + ".etp", d.etp, m + "moe_intermediate_size", a.moe_intermediate_size,
                 "choose an etp that divides the expert width"});
  }
  return r;
}

std::vector<DivisibilityRule> encoder_divisibility(const EncoderArch& a, int tp, const std::string& key) {
  const std::string m = "model.encoder.";
  return {{key + ".tp", tp, m + "num_attention_heads", a.num_attention_heads, "choose a tp that divides the heads"},
          {key + ".tp", tp, m + "ffn_hidden_size", a.ffn_hidden_size, "choose a tp that divides the FFN width"}};
}

void check_divisibility(const std::vector<DivisibilityRule>& rules, ProblemList& p) {
  for (const auto& r : rules) {
    // Sizes below 1 are reported by the rules that require them.
    if (r.divisor_value < 1 || r.value < 1) continue;
    if (r.value % r.divisor_value != 0)
      p.add(r.divisor + "=" + std::to_string(r.divisor_value) + " does not divide " + r.of + "=" +
            std::to_string(r.value) + "; " + r.fix);
  }
}

void require_divisibility(const std::vector<DivisibilityRule>& rules) {
  ProblemList p;
  check_divisibility(rules, p);
  p.throw_if_any();
}

}  // namespace hetero
