# Sourced by the GPU scripts: shapes used by more than one of them, as
# --set overrides of recipes/nemotron_20l.

# A reduced-width VLM that still exercises every kernel: an 8-layer hybrid
# LLM at width 1024 (seq 2048) behind an 8-layer RADIO at width 768, with
# images of 224-1024 px, global batch 16.
reduced_vlm=(--set model.llm.num_layers=8 --set 'model.llm.hybrid_override_pattern="M-M*M-M*"'
      --set model.llm.hidden_size=1024
      --set model.llm.num_attention_heads=16 --set model.llm.num_query_groups=4 --set model.llm.head_dim=64
      --set model.llm.mamba_num_heads=32 --set model.llm.mamba_head_dim=64 --set model.llm.ssm_state_size=64
      --set model.llm.n_groups=4 --set model.llm.chunk_size=128
      --set model.llm.ffn_hidden_size=4096 --set model.llm.vocab_size=32768 --set model.llm.seq_length=2048
      --set model.encoder.num_layers=8 --set model.encoder.hidden_size=768 --set model.encoder.num_attention_heads=12
      --set model.encoder.ffn_hidden_size=3072 --set model.encoder.patch_size=16 --set model.encoder.position_table_side=64
      --set model.encoder.min_patches=64 --set model.encoder.max_patches=1024
      --set data.image_min_px=224 --set data.image_max_px=1024 --set train.global_batch_size=16)

# A reduced-width C-RADIO (the recipes' architecture: LayerNorm, biases,
# GELU, 16-pixel patches) in front of the tiny hybrid LLM: the one-GPU
# multi-rank jobs (scripts/gpu_shared_hetero.sh).
reduced_radio=(--set model.encoder.num_layers=4 --set model.encoder.hidden_size=256
      --set model.encoder.num_attention_heads=4 --set model.encoder.ffn_hidden_size=1024 --set model.encoder.patch_size=16
      --set model.encoder.position_table_side=32 --set model.encoder.min_patches=16
      --set model.encoder.max_patches=256 --set data.image_min_px=64 --set data.image_max_px=512)
