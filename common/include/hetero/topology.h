// The parallel layout of a job (design §3): degrees are validated once, up
// front, and everything else is derived from them by small named functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "hetero/grid.h"
#include "hetero/recipe.h"

namespace hetero {

// Degrees of one module's grid. Like torchtitan's ParallelDims: the struct
// holds what the user chose; the rest is derived.
struct ParallelDims {
  int size = 1;  // ranks the module owns
  int tp = 1, cp = 1, pp = 1;
  int ep = 1, etp = 1;
  // Sequence parallelism: between tp regions (norms, residual stream, MoE)
  // each tp rank holds 1/tp of every sequence instead of all of it.
  bool sp = false;

  // Replicas of the module: what is left of its ranks after model parallelism.
  int dp() const { return size / (tp * cp * pp); }
  // Ranks of one pipeline stage; MoE layers re-slice exactly these.
  int stage_size() const { return tp * cp * dp(); }
  // Expert data parallelism: the stage's ranks not used by etp x ep.
  int edp() const { return stage_size() / (etp * ep); }
};

struct ModuleLayout {
  std::string name;  // "encoder" or "llm"
  int offset = 0;    // first rank
  ParallelDims dims;

  int end() const { return offset + dims.size; }
  bool contains(int rank) const { return rank >= offset && rank < end(); }
  // Dense view: tp fastest, then cp, dp, pp (Megatron's default order).
  RankGrid grid() const;
  // Expert view of the same ranks: etp fastest, then ep, edp, pp.
  RankGrid expert_grid() const;
};

struct JobTopology {
  std::string mode;  // hetero | colocated
  int nodes = 0;
  int gpus_per_node = 0;
  int world_size = 0;
  int global_batch_size = 0;
  int micro_batch_size = 0;
  ModuleLayout encoder;
  ModuleLayout llm;

  bool hetero() const { return mode == "hetero"; }
  // One LLM data-parallel replica is a lane.
  int lanes() const { return llm.dims.dp(); }
  int encoder_replicas() const { return encoder.dims.dp(); }
  // Fan-out: lanes each encoder replica feeds (1 under fan-in).
  int lanes_per_encoder() const;
  // Fan-in: encoder replicas that split one lane's images (1 under fan-out).
  int encoders_per_lane() const;
  // Microbatches each lane runs per iteration.
  int num_microbatches() const { return global_batch_size / (micro_batch_size * lanes()); }
  // Samples of the global batch each lane consumes per iteration.
  int samples_per_lane() const { return global_batch_size / lanes(); }

  // Encoder replicas that feed `lane`, in the order their images are joined.
  std::vector<int> encoder_replicas_of_lane(int lane) const;
  // Lanes that encoder replica `e` feeds.
  std::vector<int> lanes_of_encoder_replica(int e) const;
  // The rank that logs: the LLM's last pipeline stage, first tp/cp/dp rank.
  int logging_rank() const;
};

// What `rank` does, for messages: "encoder", "llm stage 0 of 2", or
// "colocated stage 1 of 2" (the last stage also says "(last)").
std::string rank_role(const JobTopology& topo, int rank);

// Builds and validates the topology of `recipe` at its resolved scale.
// Throws ConfigError listing every violated rule with the numbers involved.
JobTopology plan_topology(const Recipe& recipe);

// The images [begin, end) of a lane's microbatch that encoder replica
// `part` of `parts` encodes under fan-in: contiguous, in order, balanced.
std::pair<int, int> fan_in_image_range(int num_images, int parts, int part);

// A human-readable plan, one block per module (what `hetero-launch plan` prints).
std::string describe_plan(const Recipe& recipe, const JobTopology& topo);

}  // namespace hetero
