// What the profiler needs from RUN/config.yaml (written by the trainer):
// the topology section (who holds which rank, lanes, microbatches) and the
// batch sizes and node shape that `suggest` scales from.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hetero/topology.h"
#include "source.h"

namespace hetero::profiler {

struct RunConfig {
  std::string path;
  JobTopology topo;  // mode, world_size, nodes, gpus_per_node, batch sizes, both modules' layouts
  int num_microbatches = 0;

  bool hetero() const { return topo.hetero(); }
  // The role the trainer gives `rank` (what its trace's hetero_rank says).
  RankRole role_of(int rank) const;
  // LLM lanes that encoder replica `replica` feeds, and the reverse.
  std::vector<int> lanes_of_encoder_replica(int replica) const { return topo.lanes_of_encoder_replica(replica); }
  std::vector<int> encoder_replicas_of_lane(int lane) const { return topo.encoder_replicas_of_lane(lane); }
};

// Reads `path` (RUN/config.yaml). Returns nullopt when the file does not
// exist; throws ConfigError naming the key when its topology section is
// missing or malformed.
std::optional<RunConfig> load_run_config(const std::string& path);

}  // namespace hetero::profiler
