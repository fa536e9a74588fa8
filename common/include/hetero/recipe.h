// The recipe model (design §9): one YAML file per recipe, with named scales.
//
// A recipe is read once, overrides (`--set a.b=v`) are applied to the YAML
// tree, the chosen scale's `model`/`train` sections are merged over the
// top-level ones, and the result is parsed into typed structs. Unknown keys
// and wrongly typed values are errors, whether they came from the file or
// from the command line.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace hetero {

class ProblemList;

// The Nemotron-H hybrid language model (design §6). Keys follow the Hugging
// Face NemotronH config where one exists (Megatron's name otherwise).
struct LlmArch {
  int num_layers = 0;           // num_hidden_layers
  int hidden_size = 0;
  int vocab_size = 0;
  int seq_length = 0;
  // One character per layer: M Mamba-2, * attention, - MLP, E MoE.
  std::string hybrid_override_pattern;
  // Attention (*): GQA.
  int num_attention_heads = 0;
  int num_query_groups = 0;     // num_key_value_heads; divides num_attention_heads
  int head_dim = 0;             // 0: hidden_size / num_attention_heads
  // MLP (-): squared ReLU.
  int ffn_hidden_size = 0;      // intermediate_size
  // Mamba-2 (M).
  int mamba_num_heads = 0;
  int mamba_head_dim = 0;
  int ssm_state_size = 0;
  int n_groups = 1;             // divides mamba_num_heads
  int conv_kernel = 4;
  int chunk_size = 128;         // of the SSD scan
  // Lower clamp of dt after the softplus. 0 (none) is Megatron's and
  // mamba_ssm's; transformers 5's NemotronH clamps at time_step_min (0.001),
  // so set 0.001 to reproduce its logits where a head's dt falls below.
  double dt_clamp_min = 0.0;
  // MoE (E).
  int num_experts = 0;          // n_routed_experts; 0: no MoE layer
  int moe_intermediate_size = 0;
  int moe_shared_expert_intermediate_size = 0;  // 0: no shared expert
  int num_experts_per_tok = 1;
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = true;
  std::string moe_score_function = "sigmoid";  // sigmoid | softmax
  double moe_aux_loss_coeff = 0.0;  // weight of each MoE layer's load-balancing loss in the objective

  int attention_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  int count_layers(char kind) const;
};

struct EncoderArch {
  int num_layers = 0;
  int hidden_size = 0;
  int num_attention_heads = 0;
  int ffn_hidden_size = 0;
  int patch_size = 0;
  int channels = 0;
  int position_table_side = 0;  // the learned position grid is side x side; interpolated to each image's grid
  int num_cls_tokens = 1;       // summary tokens prepended per image, dropped after the final norm
  int num_registers = 0;
  int min_patches = 4;          // dynamic resolution: each image's patch grid lies in [min, max]
  int max_patches = 4;
  // Architecture variants (defaults: the pre-norm RMSNorm/squared-ReLU block
  // without biases). C-RADIO, as Hugging Face transformers' RadioModel runs
  // it, is layernorm + bias + gelu, no final norm, square_crop positions and
  // the CLIP pixel mean/std.
  std::string norm = "rmsnorm";     // rmsnorm (weight) | layernorm (weight and bias): blocks and final norm
  double norm_eps = 1e-5;
  bool bias = false;                // biases on q, k, v, o and both MLP linears
  std::string mlp_activation = "squared_relu";  // squared_relu | gelu (erf) | gelu_tanh
  bool final_norm = true;           // a norm after the last block (transformers' RadioModel has none)
  // How the position table meets an image's grid: stretch (resize to rows x
  // cols) or square_crop (resize to the longer side's square, keep the
  // top-left rows x cols: RADIO's CPE as transformers runs it).
  std::string position_interpolation = "stretch";
  // The input conditioner: pixels (in [0, 1] for C-RADIO) become
  // (pixel - mean[c]) / std[c] per channel. Empty: pixels go in unchanged.
  std::vector<double> pixel_mean, pixel_std;
};

// One source of a data blend: a Megatron indexed dataset prefix (PREFIX.bin
// + PREFIX.idx) or an Energon-style shard folder (with .nv-meta/).
struct DataSource {
  std::string path;
  double weight = 0;
};

struct DataConfig {
  std::uint64_t seed = 0;
  // Mock data (when `blend` is empty).
  int max_images_per_sample = 0;
  double text_only_fraction = 0.0;
  int image_min_px = 224;  // each side of a mock image is drawn from [min, max] pixels
  int image_max_px = 224;
  // Real data (trainer/data/, design §8a).
  std::vector<DataSource> blend;
  std::string split = "train";       // of the shard folders' .nv-meta/split.yaml
  bool packing = false;              // pack short samples into one row
  std::int64_t image_token_id = 0;   // the placeholder of one image in the text
  std::int64_t pad_token_id = 0;     // fills unpacked rows (no loss on it)
  bool skip_bad_samples = false;     // skip (and count) bad samples instead of failing
  int prefetch_depth = 2;            // iterations the loader works ahead (0: none)
  int loader_threads = 2;            // decode threads per process
};

// The run length is given once, in iterations or in samples (not both, per
// section); train_iters is always derived (ceil(train_samples / GBS)). The
// LR schedule counts in the unit of the run length, as Megatron-LM does:
// samples when train_samples is given (every length converted to samples),
// else iterations (lengths in samples converted with ceil(samples / GBS)).
struct TrainConfig {
  int global_batch_size = 0;
  int micro_batch_size = 0;
  int train_iters = 0;               // given, or ceil(train_samples / global_batch_size)
  std::int64_t train_samples = 0;    // 0: the schedule was given in iterations
  double lr = 0, min_lr = 0;
  int lr_warmup_iters = 0;           // given, or ceil(lr_warmup_samples / global_batch_size)
  std::int64_t lr_warmup_samples = 0;
  std::string lr_decay_style;  // constant | linear | cosine | inverse-square-root | WSD
  double lr_warmup_init = 0;   // the learning rate warm-up starts from
  std::int64_t lr_decay_iters = 0, lr_decay_samples = 0;  // where decay ends; neither: the end of the run
  std::string lr_wsd_decay_style = "linear";  // WSD's final decay: linear | cosine | exponential | minus_sqrt
  std::int64_t lr_wsd_decay_iters = 0, lr_wsd_decay_samples = 0;
  double weight_decay = 0;          // constant weight decay, unless start/end are given
  double start_weight_decay = -1, end_weight_decay = -1;  // -1: weight_decay
  std::string weight_decay_incr_style = "constant";  // constant | linear | cosine, over the decay length
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double clip_grad = 0;  // 0: no clipping
  int encoder_run_ahead = 1;  // microbatches the encoder may run ahead of the LLM
  // Optimizer steps skipped in a row (non-finite gradients) that end the job:
  // a run whose every step is skipped trains nothing.
  int max_skipped_in_a_row = 10;
  // Checkpoints (RUN/checkpoints/iter-N): every save_interval iterations (0:
  // only on a stop request and at the end of the run); the newest keep_last
  // complete ones are kept.
  int save_interval = 0;
  int keep_last = 2;
  bool save_at_end = true;  // with save_interval > 0: also after the last iteration
  // Training stage: the parts that do not train (kFreezableParts). Stage 1
  // of a VLM freezes {vision, llm} (only the projector aligns); stage 2
  // freezes nothing.
  std::set<std::string> freeze;
  bool trains(const std::string& part) const { return freeze.count(part) == 0; }
  // The encoder's output needs gradients (and the bridge carries them back)
  // unless both of its parts are frozen.
  bool encoder_trains() const { return trains("vision") || trains("projector"); }
};

// The parts train.freeze may name: the ViT, the projector, the language model.
inline const std::vector<std::string> kFreezableParts = {"vision", "projector", "llm"};

// One module's share of a scale. Its size is given as whole nodes or, for
// layouts smaller than a node (tiny, 1n), as a rank count.
struct ModuleScale {
  int nodes = 0;
  int ranks = 0;  // resolved size in ranks
  int tp = 1, cp = 1, pp = 1, ep = 1, etp = 1;
  bool sp = false;  // sequence parallelism inside tp regions (key `sp`)
};

struct ScaleConfig {
  std::string name;
  std::string mode;  // hetero | colocated
  int nodes = 0;
  int gpus_per_node = 0;
  ModuleScale encoder;
  ModuleScale llm;
};

// How a job is submitted to Slurm: the recipe's `launch:` section (a scale
// may override it like model/data/train; hetero-launch's --time, --account,
// --partition and --sbatch-extra win over both). Every key is optional.
struct LaunchConfig {
  std::string time = "04:00:00";   // #SBATCH --time, [D-]HH:MM:SS
  int signal_seconds = 300;        // USR1 reaches the batch script this long before the limit
  int max_requeues = 3;            // requeues after a stop on request (SLURM_RESTART_COUNT below this)
  int port = 29500;                // MASTER_PORT on the allocation's first host
  std::string device = "cuda";     // cuda: one GPU per task; cpu: no GPUs requested (the tiny scale)
  // A rank whose heartbeat is this old is named as hung and the job ends
  // (hetero-train --hang-timeout-s wins; 0: off). Well below the collective
  // timeout (--timeout-s), which backs it up.
  int hang_timeout_s = 60;
  std::string account;             // #SBATCH --account (empty: the cluster's default)
  std::string partition;           // #SBATCH --partition (empty: the cluster's default)
  std::vector<std::pair<std::string, std::string>> env;  // exported by the batch script, in file order
  std::vector<std::string> sbatch_extra;                 // more "#SBATCH ..." lines, verbatim
};

struct Recipe {
  std::string name;
  std::string file;  // the recipe.yaml that was read
  std::uint64_t seed = 0;
  LlmArch llm;
  EncoderArch encoder;
  DataConfig data;
  TrainConfig train;
  ScaleConfig scale;
  LaunchConfig launch;
  std::vector<std::string> scale_names;  // every scale the recipe defines
  YAML::Node resolved;  // the tree as run: overrides and scale merged in
};

// Reads `recipe` (a recipe directory or its recipe.yaml), applies `overrides`
// ("dotted.key=value", in order) and resolves `scale`. Throws ConfigError
// listing every problem found.
Recipe load_recipe(const std::string& recipe, const std::string& scale,
                   const std::vector<std::string>& overrides);

// Checks a launch configuration (after command-line flags were applied to
// it), adding one problem per broken rule: the value, the rule and the fix.
// (Extra #SBATCH lines are the renderer's to check: launch/sbatch_rules.h.)
void check_launch(const LaunchConfig& launch, ProblemList& problems);

// Parses "a.b.c=value" into its path and value; throws ConfigError if malformed.
std::pair<std::vector<std::string>, std::string> parse_override(const std::string& text);

}  // namespace hetero
