#include "hetero/topology.h"

#include <algorithm>
#include <sstream>

#include "hetero/errors.h"
#include "hetero/split_rules.h"

namespace hetero {

RankGrid ModuleLayout::grid() const {
  return RankGrid(offset, {{"tp", dims.tp}, {"cp", dims.cp}, {"dp", dims.dp()}, {"pp", dims.pp}});
}

RankGrid ModuleLayout::expert_grid() const {
  return RankGrid(offset, {{"etp", dims.etp}, {"ep", dims.ep}, {"edp", dims.edp()}, {"pp", dims.pp}});
}

int JobTopology::lanes_per_encoder() const {
  return encoder_replicas() <= lanes() ? lanes() / encoder_replicas() : 1;
}

int JobTopology::encoders_per_lane() const {
  return encoder_replicas() > lanes() ? encoder_replicas() / lanes() : 1;
}

std::vector<int> JobTopology::encoder_replicas_of_lane(int lane) const {
  std::vector<int> out;
  const int k = encoders_per_lane();
  if (k > 1) {
    for (int j = 0; j < k; ++j) out.push_back(lane * k + j);
  } else {
    out.push_back(lane / lanes_per_encoder());
  }
  return out;
}

std::vector<int> JobTopology::lanes_of_encoder_replica(int e) const {
  std::vector<int> out;
  const int m = lanes_per_encoder();
  if (encoders_per_lane() > 1) {
    out.push_back(e / encoders_per_lane());
  } else {
    for (int j = 0; j < m; ++j) out.push_back(e * m + j);
  }
  return out;
}

int JobTopology::logging_rank() const {
  const RankGrid g = llm.grid();
  return g.rank_at({0, 0, 0, llm.dims.pp - 1});
}

std::string rank_role(const JobTopology& t, int rank) {
  if (t.hetero() && t.encoder.contains(rank)) return "encoder";
  if (!t.llm.contains(rank)) return "outside the job";
  const int stage = t.llm.grid().coord(rank, "pp"), stages = t.llm.dims.pp;
  std::string role = std::string(t.hetero() ? "llm" : "colocated") + " stage " + std::to_string(stage);
  if (stages > 1) role += " of " + std::to_string(stages) + (stage == stages - 1 ? " (last)" : "");
  return role;
}

std::pair<int, int> fan_in_image_range(int num_images, int parts, int part) {
  const int begin = static_cast<int>(static_cast<long long>(num_images) * part / parts);
  const int end = static_cast<int>(static_cast<long long>(num_images) * (part + 1) / parts);
  return {begin, end};
}

namespace {

std::string num(int v) { return std::to_string(v); }

void check_positive(ProblemList& p, const std::string& key, int v) {
  if (v < 1) p.add(key + "=" + num(v) + " must be at least 1");
}

// Checks one module's degrees; returns false if dp cannot even be derived.
bool check_module(ProblemList& p, const std::string& prefix, const ModuleScale& s, int num_experts) {
  bool ok = true;
  for (auto [k, v] : {std::pair<const char*, int>{"ranks", s.ranks}, {"tp", s.tp}, {"cp", s.cp}, {"pp", s.pp},
                      {"ep", s.ep}, {"etp", s.etp}}) {
    if (v < 1) {
      check_positive(p, prefix + "." + k, v);
      ok = false;
    }
  }
  if (!ok) return false;
  const int mp = s.tp * s.cp * s.pp;
  if (s.ranks % mp != 0) {
    p.add(prefix + " has " + num(s.ranks) + " ranks, not a multiple of tp*cp*pp=" + num(s.tp) + "*" + num(s.cp) +
          "*" + num(s.pp) + "=" + num(mp) + "; change the module's ranks/nodes or its tp/cp/pp");
    return false;
  }
  const int stage = s.tp * s.cp * (s.ranks / mp);
  if (stage % (s.ep * s.etp) != 0)
    p.add(prefix + ": ep*etp=" + num(s.ep) + "*" + num(s.etp) + "=" + num(s.ep * s.etp) +
          " does not divide the stage's tp*cp*dp=" + num(stage) + " ranks; pick ep and etp whose product divides it");
  if (num_experts == 0 && (s.ep != 1 || s.etp != 1))
    p.add(prefix + ": ep=" + num(s.ep) + ", etp=" + num(s.etp) +
          " but the model has no experts (model.llm.n_routed_experts=0); set ep=1 and etp=1");
  return true;
}

}  // namespace

JobTopology plan_topology(const Recipe& r) {
  ProblemList p;
  const ScaleConfig& sc = r.scale;
  const std::string pre = "scales." + sc.name;
  JobTopology t;
  t.mode = sc.mode;
  t.nodes = sc.nodes;
  t.gpus_per_node = sc.gpus_per_node;
  t.global_batch_size = r.train.global_batch_size;
  t.micro_batch_size = r.train.micro_batch_size;
  check_positive(p, pre + ".nodes", sc.nodes);
  check_positive(p, pre + ".gpus_per_node", sc.gpus_per_node);
  check_positive(p, "train.global_batch_size", r.train.global_batch_size);
  check_positive(p, "train.micro_batch_size", r.train.micro_batch_size);
  // Given in samples, the length was checked (and turned into iterations) with the recipe.
  if (r.train.train_samples == 0) check_positive(p, "train.train_iters", r.train.train_iters);
  check_positive(p, "train.encoder_run_ahead", r.train.encoder_run_ahead);
  const int allocated = sc.nodes * sc.gpus_per_node;

  bool llm_ok = check_module(p, pre + ".llm", sc.llm, r.llm.num_experts);
  // What the degrees split (heads, groups, widths, experts, vocabulary): one table.
  if (llm_ok) check_divisibility(llm_divisibility(r.llm, {sc.llm.tp, sc.llm.pp, sc.llm.ep, sc.llm.etp}, pre + ".llm"), p);
  const LlmArch& a = r.llm;
  if (sc.llm.sp && sc.llm.tp > 1 && a.seq_length % sc.llm.tp != 0)
    p.add(pre + ".llm.sp: sequence parallelism splits every sequence over tp, but tp=" + num(sc.llm.tp) +
          " does not divide model.llm.seq_length=" + num(a.seq_length) + "; choose a seq_length that tp divides, or sp: false");
  if (sc.encoder.sp)
    p.add(pre + ".encoder.sp: the encoder has no sequence parallelism (its packed image sequences vary per "
          "step); remove sp from the encoder");
  bool enc_ok = true;
  if (t.hetero()) {
    enc_ok = check_module(p, pre + ".encoder", sc.encoder, 0);
    if (enc_ok) check_divisibility(encoder_divisibility(r.encoder, sc.encoder.tp, pre + ".encoder"), p);
    if (sc.encoder.pp != 1 || sc.encoder.cp != 1)
      p.add(pre + ".encoder: pp=" + num(sc.encoder.pp) + ", cp=" + num(sc.encoder.cp) +
            " but the encoder runs without pipeline or context parallelism; set both to 1");
    t.world_size = sc.encoder.ranks + sc.llm.ranks;
    if (t.world_size != allocated)
      p.add(pre + ": encoder " + num(sc.encoder.ranks) + " + llm " + num(sc.llm.ranks) + " = " + num(t.world_size) +
            " ranks, but nodes*gpus_per_node = " + num(sc.nodes) + "*" + num(sc.gpus_per_node) + " = " +
            num(allocated) + "; make them equal");
    t.encoder = {"encoder", 0, {sc.encoder.ranks, sc.encoder.tp, sc.encoder.cp, sc.encoder.pp, 1, 1}};
    t.llm = {"llm", sc.encoder.ranks, {sc.llm.ranks, sc.llm.tp, sc.llm.cp, sc.llm.pp, sc.llm.ep, sc.llm.etp, sc.llm.sp}};
  } else {
    // Colocated: both modules share the llm grid on every rank.
    t.world_size = sc.llm.ranks;
    if (t.world_size != allocated)
      p.add(pre + ": llm " + num(sc.llm.ranks) + " ranks, but nodes*gpus_per_node = " + num(sc.nodes) + "*" +
            num(sc.gpus_per_node) + " = " + num(allocated) + " (colocated mode runs both modules on the llm ranks)");
    // In colocated mode the encoder uses the llm's tp.
    if (llm_ok) check_divisibility(encoder_divisibility(r.encoder, sc.llm.tp, pre + ".llm"), p);
    t.llm = {"llm", 0, {sc.llm.ranks, sc.llm.tp, sc.llm.cp, sc.llm.pp, sc.llm.ep, sc.llm.etp, sc.llm.sp}};
    t.encoder = {"encoder", 0, {sc.llm.ranks, sc.llm.tp, sc.llm.cp, 1, 1, 1}};
    t.encoder.dims.size = sc.llm.ranks / sc.llm.pp;  // the encoder lives on the first stage's ranks
  }
  if (llm_ok && enc_ok && r.train.global_batch_size > 0 && r.train.micro_batch_size > 0) {
    const int lanes = t.lanes(), enc = t.encoder_replicas();
    const int per_iter = r.train.micro_batch_size * lanes;
    if (r.train.global_batch_size % per_iter != 0)
      p.add("train.global_batch_size=" + num(r.train.global_batch_size) + " is not divisible by micro_batch_size*llm_dp=" +
            num(r.train.micro_batch_size) + "*" + num(lanes) + "=" + num(per_iter) +
            "; choose a global batch that is a multiple of " + num(per_iter));
    if (t.hetero() && lanes % enc != 0 && enc % lanes != 0)
      p.add(pre + ": encoder dp=" + num(enc) + " and llm dp=" + num(lanes) +
            " must divide one another (fan-out or fan-in); change a module's ranks or tp");
    // 1F1B: stage 0 runs min(pp, microbatches) forwards before its first
    // backward, so the encoder must be allowed that far ahead or the two
    // modules wait on each other for ever.
    const int ahead = std::min(sc.llm.pp, std::max(1, r.train.global_batch_size / per_iter));
    if (t.hetero() && r.train.encoder_run_ahead > 0 && r.train.encoder_run_ahead < ahead)
      p.add("train.encoder_run_ahead=" + num(r.train.encoder_run_ahead) + " is below " + num(ahead) + " (llm pp=" +
            num(sc.llm.pp) + "): the first stage runs " + num(ahead) +
            " forwards before its first backward; set train.encoder_run_ahead to at least " + num(ahead));
  }
  p.throw_if_any();
  return t;
}

std::string describe_plan(const Recipe& r, const JobTopology& t) {
  std::ostringstream os;
  os << "recipe " << r.name << ", scale " << r.scale.name << ": " << t.mode << ", " << t.nodes << " node(s) x "
     << t.gpus_per_node << " = " << t.world_size << " ranks\n";
  auto module = [&](const ModuleLayout& m, int nodes) {
    const auto& d = m.dims;
    os << "  " << m.name << ":\n";
    if (nodes > 0) os << "    nodes:          " << nodes << "\n";
    os << "    ranks:          [" << m.offset << ", " << m.end() << ")  (" << d.size << ")\n";
    os << "    tp/cp/pp/dp:    " << d.tp << "/" << d.cp << "/" << d.pp << "/" << d.dp() << "\n";
    os << "    ep/etp/edp:     " << d.ep << "/" << d.etp << "/" << d.edp() << "\n";
    if (d.sp) os << "    sequence parallel: on\n";
  };
  auto nodes_of = [&](const ModuleScale& s) { return s.nodes; };
  if (t.hetero()) {
    module(t.encoder, nodes_of(r.scale.encoder));
    os << "    lanes per encoder replica: " << t.lanes_per_encoder() << "\n";
    os << "    encoder replicas per lane: " << t.encoders_per_lane() << "\n";
  } else {
    os << "  encoder: colocated on the llm grid's first stage, " << t.encoder.dims.dp() << " replica(s)\n";
  }
  module(t.llm, t.hetero() ? nodes_of(r.scale.llm) : t.nodes);
  os << "    lanes:          " << t.lanes() << "\n";
  os << "    microbatches per iteration: " << t.num_microbatches() << "  (global batch " << t.global_batch_size
     << " / (micro batch " << t.micro_batch_size << " x lanes " << t.lanes() << "))\n";
  const TrainConfig& tr = r.train;
  os << "  schedule:\n";
  os << "    iterations:     " << tr.train_iters;
  if (tr.train_samples > 0)
    os << "  (ceil(train samples " << tr.train_samples << " / global batch " << t.global_batch_size << "))";
  else
    os << "  (train.train_iters; " << static_cast<long long>(tr.train_iters) * t.global_batch_size << " samples)";
  os << "\n";
  os << "    warmup:         " << tr.lr_warmup_iters << " iteration(s)";
  if (tr.lr_warmup_samples > 0)
    os << "  (ceil(warmup samples " << tr.lr_warmup_samples << " / global batch " << t.global_batch_size << "))";
  os << "\n";
  return os.str();
}

}  // namespace hetero
