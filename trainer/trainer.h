// The trainer's state and the pieces of one iteration. train_loop.cpp reads
// top-down; schedules.cpp holds the per-role microbatch schedules.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "bridge/bridge.h"
#include "data/batches.h"
#include "data/data_loader.h"
#include "dist/comm.h"
#include "hetero/train_schedule.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"
#include "model/radio_encoder.h"
#include "model/language_model.h"
#include "optim/adamw.h"
#include "telemetry/embedding_dump.h"
#include "telemetry/timeline.h"

namespace hetero {

struct TrainerOptions {
  std::string run_dir;
  int iters = 0;                   // iterations to run
  bool trace = true;               // write RUN/trace/rank-NNNNN.json
  int kernel_trace_at = 0;         // iteration recorded into RUN/trace/kernels-rank-NNNNN.json (0: none)
  bool tensorboard = false;        // the logging rank writes RUN/tensorboard event files
  at::ScalarType compute_dtype = at::kFloat;  // matmuls and TP traffic; weights and optimizer stay fp32
  bool distributed_optimizer = false;  // shard AdamW state over each module's dp group
  std::set<int> dump_embeddings_at;  // iterations whose embeddings are dumped
  std::set<int> save_weights_at;     // iterations after which weights are saved (0: initialisation)
  std::string llm_init_from_hf;      // Hugging Face NemotronH folder the LLM starts from ("" : the seed)
  std::string encoder_init_from_hf;  // Hugging Face RADIO folder the encoder starts from ("" : the seed)
  std::string resume_from;           // checkpoint folder this start continues from ("": a fresh start)
  int kill_during_save_at = -1;      // testing: the last rank dies (SIGKILL) while writing this iteration's save
  double encoder_delay_ms = 0;     // testing: sleep in every encoder forward (a slow encoder)
  int nonfinite_at_iter = -1;      // testing: poison one gradient on the last rank at this iteration
  int fail_at_iter = -1;           // testing: throw at this iteration...
  int fail_rank = -1;              // ...on this rank
};

// What one rank's microbatches produced in an iteration.
struct MicrobatchTotals {
  at::Tensor loss_sum;            // summed cross-entropy, fp64 on the device (ranks that compute the loss)
  std::int64_t images = 0;       // images whose embeddings entered the LLM
  double encoder_stall_ms = 0;   // LLM first stage waiting for embeddings
  double bridge_wait_ms = 0;     // encoder waiting for gradients
  std::int64_t bridge_bytes = 0;  // image embeddings (with their metadata) this rank sent over the bridge
};

struct Trainer {
  const Recipe& recipe;
  const JobTopology& topo;
  JobComms& comms;
  TrainerOptions options;
  std::unique_ptr<DataLoader> data;  // this rank's reads, ahead of the step
  BridgeRoutes routes;
  std::unique_ptr<RadioEncoder> encoder;  // where this rank runs the encoder
  std::unique_ptr<LanguageModel> llm;      // where this rank runs the LLM
  // The parameters that train (frozen parts left out): what gradients are
  // zeroed, reduced, normed and stepped over. Copies share the tensors.
  std::vector<Param> encoder_trainable, llm_trainable;
  std::unique_ptr<Optimizer> encoder_optim, llm_optim;  // null: nothing of the module trains
  PointToPoint p2p;                        // bridge and pipeline traffic
  std::unique_ptr<BridgeEndpoint> bridge;
  Timeline timeline;
  EmbeddingDump dump;

  Trainer(const Recipe& r, const JobTopology& t, JobComms& c, TrainerOptions o);
};


// Runs the training loop; returns the process exit status.
int train(Trainer& trainer);

// Microbatch schedules of one iteration (schedules.cpp): the encoder side
// of a hetero job, and the LLM pipeline (hetero, or colocated with the
// encoder on stage 0).
MicrobatchTotals run_encoder_side(Trainer& t, int iter);
MicrobatchTotals run_llm_pipeline(Trainer& t, int iter, double global_loss_tokens);

}  // namespace hetero
