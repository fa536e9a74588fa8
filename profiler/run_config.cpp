#include "run_config.h"

#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "hetero/errors.h"

namespace hetero::profiler {
namespace {

int read_int(const YAML::Node& n, const std::string& key, const std::string& where, ProblemList& problems,
             int fallback = 0, bool required = true) {
  if (!n || !n[key]) {
    if (required) problems.add(where + ": missing key '" + key + "'");
    return fallback;
  }
  try {
    return n[key].as<int>();
  } catch (const YAML::Exception&) {
    problems.add(where + "." + key + ": expected an integer, got '" + n[key].as<std::string>("?") + "'");
    return fallback;
  }
}

// "a-b" (inclusive) as the trainer writes module ranks.
std::pair<int, int> read_range(const YAML::Node& n, const std::string& where, ProblemList& problems) {
  if (!n || !n["ranks"]) {
    problems.add(where + ": missing key 'ranks'");
    return {0, 0};
  }
  const std::string text = n["ranks"].as<std::string>("");
  const auto dash = text.find('-');
  try {
    if (dash == std::string::npos) {
      const int r = std::stoi(text);
      return {r, r};
    }
    return {std::stoi(text.substr(0, dash)), std::stoi(text.substr(dash + 1))};
  } catch (const std::exception&) {
    problems.add(where + ".ranks: expected 'first-last', got '" + text + "'");
    return {0, 0};
  }
}

ModuleLayout read_module(const YAML::Node& topo, const std::string& name, ProblemList& problems) {
  const std::string where = "topology." + name;
  const YAML::Node n = topo[name];
  ModuleLayout m;
  m.name = name;
  if (!n) {
    problems.add(where + ": missing");
    return m;
  }
  const auto [first, last] = read_range(n, where, problems);
  m.offset = first;
  m.dims.size = last - first + 1;
  m.dims.tp = read_int(n, "tp", where, problems, 1);
  m.dims.cp = read_int(n, "cp", where, problems, 1, false);
  m.dims.pp = read_int(n, "pp", where, problems, 1);
  m.dims.ep = read_int(n, "ep", where, problems, 1, false);
  m.dims.etp = read_int(n, "etp", where, problems, 1, false);
  if (m.dims.tp < 1 || m.dims.cp < 1 || m.dims.pp < 1 || m.dims.size % (m.dims.tp * m.dims.cp * m.dims.pp) != 0)
    problems.add(where + ": tp*cp*pp does not divide its " + std::to_string(m.dims.size) + " ranks");
  return m;
}

}  // namespace

RankRole RunConfig::role_of(int rank) const {
  RankRole r;
  r.rank = rank;
  const ModuleLayout* m = nullptr;
  if (hetero()) {
    if (topo.encoder.contains(rank)) m = &topo.encoder;
    else if (topo.llm.contains(rank)) m = &topo.llm;
  } else if (topo.llm.contains(rank)) {
    m = &topo.llm;
  }
  if (!m) return r;  // outside the job: unknown
  const RankGrid grid = m->grid();
  r.module = !hetero() ? "colocated" : m->name;
  r.replica = grid.coord(rank, "dp");
  r.stage = m->name == "encoder" ? 0 : grid.coord(rank, "pp");
  r.tp_rank = grid.coord(rank, "tp");
  return r;
}

std::optional<RunConfig> load_run_config(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ": not valid YAML: " + e.what());
  }
  ProblemList problems;
  const YAML::Node topo = root["topology"];
  if (!topo) throw ConfigError(path + ": no 'topology' section (written by hetero-train)");
  RunConfig c;
  c.path = path;
  c.topo.mode = topo["mode"] ? topo["mode"].as<std::string>("") : "";
  if (c.topo.mode != "hetero" && c.topo.mode != "colocated")
    problems.add("topology.mode: expected hetero or colocated, got '" + c.topo.mode + "'");
  c.topo.world_size = read_int(topo, "world_size", "topology", problems);
  c.topo.encoder = read_module(topo, "encoder", problems);
  c.topo.llm = read_module(topo, "llm", problems);
  c.num_microbatches = read_int(topo, "num_microbatches", "topology", problems);
  const YAML::Node train = root["train"];
  c.topo.global_batch_size = read_int(train, "global_batch_size", "train", problems, 0, false);
  c.topo.micro_batch_size = read_int(train, "micro_batch_size", "train", problems, 0, false);
  const YAML::Node scale = root["scale"];
  c.topo.nodes = read_int(scale, "nodes", "scale", problems, 0, false);
  c.topo.gpus_per_node = read_int(scale, "gpus_per_node", "scale", problems, 0, false);
  if (!problems.empty()) {
    try {
      problems.throw_if_any();
    } catch (const ConfigError& e) {
      std::vector<std::string> named;
      for (const auto& p : e.problems()) named.push_back(path + ": " + p);
      throw ConfigError(named);
    }
  }
  return c;
}

}  // namespace hetero::profiler
