#!/usr/bin/env python3
"""Training speed of transformers' NemotronHForCausalLM at the shapes of one
of our runs, for scripts/bench_llm_gpu.sh: the architecture is read from the
run's resolved config.yaml (model.llm), so both measure the same model.
fp32 weights, bf16 autocast, AdamW; each step: MICRO sequences of seq_length
tokens forward and backward, one optimizer step. Prints one line:
  hf <label>: tokens/s N | step ms N | peak memory GB N
or the reason it could not run (out of memory)."""
import argparse
import statistics
import time

import torch
import yaml


def hf_config(llm):
    from transformers import NemotronHConfig
    # transformers 5's layer-kind names (its config validation rejects the
    # legacy "mamba"/"attention"), as trainer/hf/hf_config.cpp writes them.
    kinds = {"M": "linear_attention", "*": "full_attention", "-": "mlp", "E": "moe"}
    pattern = llm["hybrid_override_pattern"]
    c = dict(vocab_size=llm["vocab_size"], hidden_size=llm["hidden_size"], num_hidden_layers=llm["num_layers"],
             hybrid_override_pattern=pattern, layers_block_type=[kinds[k] for k in pattern],
             tie_word_embeddings=False, layer_norm_epsilon=1e-5, residual_in_fp32=False, use_cache=False,
             num_attention_heads=llm["num_attention_heads"], num_key_value_heads=llm["num_query_groups"],
             head_dim=llm.get("head_dim") or llm["hidden_size"] // llm["num_attention_heads"],
             attention_bias=False, max_position_embeddings=llm["seq_length"],
             intermediate_size=llm["ffn_hidden_size"], mlp_hidden_act="relu2", mlp_bias=False,
             mamba_num_heads=llm["mamba_num_heads"], mamba_head_dim=llm["mamba_head_dim"],
             ssm_state_size=llm["ssm_state_size"], n_groups=llm["n_groups"], conv_kernel=llm["conv_kernel"],
             chunk_size=llm["chunk_size"], use_conv_bias=True, use_bias=False, use_mamba_kernels=False,
             num_nextn_predict_layers=0)
    if "E" in pattern:
        c.update(n_routed_experts=llm["n_routed_experts"], moe_intermediate_size=llm["moe_intermediate_size"],
                 moe_shared_expert_intermediate_size=llm["moe_shared_expert_intermediate_size"],
                 n_shared_experts=1 if llm["moe_shared_expert_intermediate_size"] > 0 else 0,
                 num_experts_per_tok=llm["num_experts_per_tok"],
                 routed_scaling_factor=llm.get("routed_scaling_factor", 1.0),
                 norm_topk_prob=llm.get("norm_topk_prob", True), n_group=1, topk_group=1)
    return NemotronHConfig(**c)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", required=True, help="RUN/config.yaml of our run")
    p.add_argument("--label", required=True)
    p.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    p.add_argument("--micro", type=int, default=1, help="sequences per step")
    a = p.parse_args()
    from transformers import NemotronHForCausalLM
    llm = yaml.safe_load(open(a.config))["model"]["llm"]
    seq = llm["seq_length"]
    torch.manual_seed(0)
    try:
        with torch.device("cuda"):
            model = NemotronHForCausalLM(hf_config(llm)).float().train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
        tokens = torch.randint(1, llm["vocab_size"], (1, seq), device="cuda")
        times = []
        for step in range(a.steps + 1):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(a.micro):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = model(input_ids=tokens, labels=tokens, use_cache=False).loss
                loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            if step > 0:
                times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"hf {a.label}: tokens/s {a.micro * seq / t:,.0f} | step ms {t * 1e3:.0f} | "
              f"peak memory GB {torch.cuda.max_memory_allocated() / 1e9:.1f} (seq {seq}, {a.micro} per step)")
    except torch.cuda.OutOfMemoryError:
        print(f"hf {a.label}: out of memory at seq {seq} "
              f"(peak allocated before it {torch.cuda.max_memory_allocated() / 1e9:.1f} GB)")


if __name__ == "__main__":
    main()
