// Rendezvous and the process groups a rank belongs to. Nothing here is
// global: the trainer builds a JobComms once and passes its groups to the
// code that communicates.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "compat.h"
#include "hetero/launch_env.h"
#include "hetero/topology.h"

namespace hetero {

// A process group plus this rank's place in it.
struct Group {
  Comm comm;
  at::Device device = at::kCPU;  // where tensors must live for this group's collectives
  std::vector<int> ranks;  // global ranks, ascending
  int rank = 0;            // position of this rank in `ranks`
  int size() const { return static_cast<int>(ranks.size()); }
};

// The groups of one module that this rank uses.
struct ModuleGroups {
  Group tp;  // tensor parallel: activations are split across these ranks
  Group dp;  // data parallel: gradients are summed across these ranks
  Group pp;  // pipeline: this rank's stage is pp.rank
  // The expert view of the same ranks (design §3; MoE layers only):
  Group ep;   // expert parallel: experts are spread over these ranks
  Group etp;  // expert tensor parallel: each expert's FFN width is split over these
  Group edp;  // expert data parallel: expert gradients are summed over these
};

struct JobComms {
  int rank = 0;
  int world_size = 1;
  at::Device device = at::kCPU;
  Group world;  // global scalars (grad norm) and bridge point-to-point
  std::optional<ModuleGroups> encoder;  // set where this rank runs the encoder
  std::optional<ModuleGroups> llm;      // set where this rank runs the LLM
  std::vector<Comm> all_comms;          // for shutdown
};

// Connects to the job's TCPStore and builds only the groups this rank is in.
JobComms connect(const ProcessPlacement& placement, const JobTopology& topo, at::Device device,
                 std::chrono::milliseconds timeout);
void disconnect(JobComms& comms);

// Blocking helpers over a group.
void all_reduce_sum(const Group& g, at::Tensor& t);
void all_reduce_max(const Group& g, at::Tensor& t);
void broadcast(const Group& g, at::Tensor& t, int root_in_group);
// Every rank's `t` (the same shape on each), in the group's rank order.
std::vector<at::Tensor> all_gather(const Group& g, const at::Tensor& t);
// Rows of contiguous `in` to the group's ranks (send_counts[r] rows to rank
// r) into contiguous `out` (recv_counts[r] rows from rank r).
void all_to_all(const Group& g, at::Tensor& out, const at::Tensor& in, std::vector<int64_t> recv_counts,
                std::vector<int64_t> send_counts);
// Chunk g.rank (along dim 0, which g.size() must divide) of the sum over
// `g` of every rank's `t`.
at::Tensor reduce_scatter(const Group& g, const at::Tensor& t);

}  // namespace hetero
