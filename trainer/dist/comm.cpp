#include "dist/comm.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <thread>

#include "hetero/errors.h"
#include "hetero/heartbeat.h"

namespace hetero {
namespace {

Group make_group(const StorePtr& store, const std::string& key, const std::vector<int>& ranks, int my_rank,
                 at::Device device, std::chrono::milliseconds timeout, bool single_host,
                 std::vector<Comm>& all) {
  Group g;
  g.ranks = ranks;
  g.rank = static_cast<int>(std::find(ranks.begin(), ranks.end(), my_rank) - ranks.begin());
  g.device = device;
  auto prefixed = make_prefix_store(key, store);
#ifdef HETERO_WITH_CUDA
  if (device.is_cuda()) {
    g.comm = make_nccl_comm(prefixed, g.rank, g.size(), timeout);
    all.push_back(g.comm);
    return g;
  }
#endif
  g.comm = make_gloo_comm(prefixed, g.rank, g.size(), timeout, single_host);
  all.push_back(g.comm);
  return g;
}

ModuleGroups module_groups(const StorePtr& store, const ModuleLayout& m, int rank, at::Device device,
                           std::chrono::milliseconds timeout, bool single_host, std::vector<Comm>& all) {
  const RankGrid grid = m.grid();
  auto build = [&](const std::vector<std::string>& dims) {
    return make_group(store, m.name + "/" + grid.group_key(rank, dims), grid.group_of(rank, dims), rank, device,
                      timeout, single_host, all);
  };
  ModuleGroups g;
  g.tp = build({"tp"});
  g.dp = build({"dp"});
  g.pp = build({"pp"});
  const RankGrid experts = m.expert_grid();
  auto build_expert = [&](const std::string& dim) {
    return make_group(store, m.name + "/experts/" + experts.group_key(rank, {dim}), experts.group_of(rank, {dim}),
                      rank, device, timeout, single_host, all);
  };
  g.ep = build_expert("ep");
  g.etp = build_expert("etp");
  g.edp = build_expert("edp");
  return g;
}

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

std::string arrival_key(int rank) { return "rendezvous/arrived/" + std::to_string(rank); }

// The job's TCPStore and its rendezvous, with every failure named: a port
// that another process holds, a store that belongs to another job (two jobs
// given one port), and, after the timeout, the ranks that never arrived.
StorePtr rendezvous(const ProcessPlacement& pl, std::chrono::milliseconds timeout) {
  const std::string where = pl.master_addr + ":" + std::to_string(pl.master_port);
  const bool server = pl.rank == 0;
  if (server && tcp_port_in_use(pl.master_port))
    throw ConfigError("rendezvous port " + std::to_string(pl.master_port) + " on " + pl.master_addr +
                      " is in use by another process (another job given the same --master-port or launch.port?); "
                      "choose a free port (hetero-launch local picks one when --master-port is not given)");
  StorePtr store;
  try {
    store = make_tcp_store(pl.master_addr, pl.master_port, server, pl.world_size, timeout, /*wait_workers=*/false);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::string lower = what;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (server && (lower.find("address already in use") != std::string::npos || lower.find("errno: 98") != std::string::npos))
      throw ConfigError("rendezvous port " + std::to_string(pl.master_port) + " on " + pl.master_addr +
                        " is in use by another process (another job given the same --master-port or launch.port?); "
                        "choose a free port");
    if (server)
      throw std::runtime_error("rank 0 cannot open the rendezvous store on port " + std::to_string(pl.master_port) +
                               ": " + what.substr(0, what.find('\n')));
    throw std::runtime_error("rank " + std::to_string(pl.rank) + " could not reach the rendezvous store at " + where +
                             " (hosted by rank 0) within " + std::to_string(timeout.count() / 1000) +
                             " s; is rank 0 running, and is MASTER_ADDR/MASTER_PORT right?");
  }
  const std::string token = job_token_from_env();
  if (server) {
    store->set("rendezvous/job", bytes(token));
  } else {
    std::string theirs;
    try {
      theirs = text(store->get("rendezvous/job"));
    } catch (const std::exception&) {
      throw std::runtime_error("rank " + std::to_string(pl.rank) + " reached " + where +
                               " but its store never said which job it serves; is another program using that port?");
    }
    if (!token.empty() && !theirs.empty() && theirs != token)
      throw ConfigError("the rendezvous store at " + where + " belongs to another job (its token '" + theirs +
                        "', this job's '" + token + "'): two jobs were given the same port; give each its own "
                        "--master-port (or launch.port)");
  }
  store->set(arrival_key(pl.rank), bytes(this_host_name() + " pid " + std::to_string(getpid())));
  if (server) {
    // Rank 0 counts arrivals, so a timeout can say who never came.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<int> missing;
    while (true) {
      missing.clear();
      for (int r = 0; r < pl.world_size; ++r)
        if (!store->check({arrival_key(r)})) missing.push_back(r);
      if (missing.empty() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!missing.empty()) {
      std::string list;
      for (std::size_t i = 0; i < missing.size() && i < 32; ++i) list += (i ? ", " : "") + std::to_string(missing[i]);
      if (missing.size() > 32) list += ", ...";
      throw std::runtime_error("rendezvous at " + where + ": after " + std::to_string(timeout.count() / 1000) + " s, " +
                               std::to_string(missing.size()) + " of " + std::to_string(pl.world_size) +
                               " ranks never arrived: " + list +
                               "; check that every rank was started (their logs) and can reach " + where);
    }
    store->set("rendezvous/complete", bytes("1"));
  } else {
    try {
      store->wait({"rendezvous/complete"}, timeout);
    } catch (const std::exception&) {
      throw std::runtime_error("rank " + std::to_string(pl.rank) + ": rendezvous at " + where + " did not complete within " +
                               std::to_string(timeout.count() / 1000) +
                               " s; rank 0's message names the ranks that never arrived");
    }
  }
  return store;
}

}  // namespace

JobComms connect(const ProcessPlacement& placement, const JobTopology& topo, at::Device device,
                 std::chrono::milliseconds timeout) {
  JobComms c;
  c.rank = placement.rank;
  c.world_size = placement.world_size;
  c.device = device;
  const bool single_host = placement.master_addr == "127.0.0.1" || placement.master_addr == "localhost";
  auto store = rendezvous(placement, timeout);
  std::vector<int> everyone(placement.world_size);
  for (int r = 0; r < placement.world_size; ++r) everyone[r] = r;
  c.world = make_group(store, "world", everyone, c.rank, device, timeout, single_host, c.all_comms);
  if (topo.hetero()) {
    if (topo.encoder.contains(c.rank))
      c.encoder = module_groups(store, topo.encoder, c.rank, device, timeout, single_host, c.all_comms);
    if (topo.llm.contains(c.rank))
      c.llm = module_groups(store, topo.llm, c.rank, device, timeout, single_host, c.all_comms);
  } else {
    // Colocated: one grid; the encoder shares the LLM's groups.
    c.llm = module_groups(store, topo.llm, c.rank, device, timeout, single_host, c.all_comms);
    if (topo.encoder.contains(c.rank)) c.encoder = c.llm;
  }
  return c;
}

void disconnect(JobComms& comms) {
  for (auto& comm : comms.all_comms) shutdown_comm(comm);
  comms.all_comms.clear();
}

// Gloo (the CPU backend) has no bf16 in its collectives. Sums and maxima
// run on an fp32 copy there; the collectives that only move data move the
// bf16 bits as fp16, a type of the same size that Gloo does know.
bool gloo_bf16(const Group& g, const at::Tensor& t) {
  return !g.device.is_cuda() && t.scalar_type() == at::kBFloat16;
}
at::Tensor gloo_bits(const at::Tensor& t) { return t.view(at::kHalf); }

void all_reduce(const Group& g, at::Tensor& t, c10d::ReduceOp op) {
  if (g.size() == 1) return;
  if (gloo_bf16(g, t)) {
    at::Tensor wide = t.to(at::kFloat);
    all_reduce(g, wide, op);
    t.copy_(wide);
    return;
  }
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions opts;
  opts.reduceOp = op;
  g.comm->allreduce(v, opts)->wait();
}

void all_reduce_sum(const Group& g, at::Tensor& t) { all_reduce(g, t, c10d::ReduceOp::SUM); }

void all_reduce_max(const Group& g, at::Tensor& t) { all_reduce(g, t, c10d::ReduceOp::MAX); }

void broadcast(const Group& g, at::Tensor& t, int root_in_group) {
  if (g.size() == 1) return;
  std::vector<at::Tensor> v{gloo_bf16(g, t) ? gloo_bits(t) : t};
  c10d::BroadcastOptions opts;
  opts.rootRank = root_in_group;
  g.comm->broadcast(v, opts)->wait();
}

std::vector<at::Tensor> all_gather(const Group& g, const at::Tensor& t) {
  const at::Tensor in = t.contiguous();
  if (g.size() == 1) return {in};
  const bool bits = gloo_bf16(g, in);
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.size(); ++r) out[0].push_back(at::empty_like(in));
  std::vector<at::Tensor> inputs{bits ? gloo_bits(in) : in};
  if (bits)
    for (at::Tensor& o : out[0]) o = gloo_bits(o);
  g.comm->allgather(out, inputs)->wait();
  if (bits)
    for (at::Tensor& o : out[0]) o = o.view(at::kBFloat16);
  return out[0];
}

void all_to_all(const Group& g, at::Tensor& out, const at::Tensor& in, std::vector<int64_t> recv_counts,
                std::vector<int64_t> send_counts) {
  const bool bits = gloo_bf16(g, in);
  at::Tensor o = bits ? gloo_bits(out) : out, i = bits ? gloo_bits(in) : in;
  g.comm->alltoall_base(o, i, recv_counts, send_counts)->wait();
}

at::Tensor reduce_scatter(const Group& g, const at::Tensor& t) {
  if (g.size() == 1) return t;
  if (t.size(0) % g.size() != 0)
    throw std::invalid_argument("reduce_scatter: dim 0 of size " + std::to_string(t.size(0)) +
                                " cannot be split over a group of " + std::to_string(g.size()));
  at::Tensor in = t.contiguous();
  const int64_t chunk = t.size(0) / g.size();
  if (g.device.is_cuda()) {
    // NCCL reduce-scatters natively: half the traffic of all-reduce + slice.
    std::vector<int64_t> shape = t.sizes().vec();
    shape[0] = chunk;
    at::Tensor out = at::empty(shape, in.options());
    g.comm->_reduce_scatter_base(out, in)->wait();
    return out;
  }
  // Gloo has no reduce-scatter: sum everything, keep this rank's chunk.
  at::Tensor sum = in.clone();
  all_reduce_sum(g, sum);
  return sum.narrow(0, g.rank * chunk, chunk).contiguous();
}

}  // namespace hetero
