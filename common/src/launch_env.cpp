#include "hetero/launch_env.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "hetero/errors.h"

namespace hetero {
namespace {

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

int parse_int(const std::string& name, const std::string& value) {
  try {
    size_t used = 0;
    int v = std::stoi(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError("environment variable " + name + "='" + value + "' is not an integer");
}

// Splits on commas that are not inside brackets.
std::vector<std::string> split_top_level(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

}  // namespace

std::vector<std::string> expand_slurm_hostlist(const std::string& list) {
  std::vector<std::string> hosts;
  for (const auto& item : split_top_level(list)) {
    const auto open = item.find('[');
    if (open == std::string::npos) {
      hosts.push_back(item);
      continue;
    }
    const auto close = item.find(']', open);
    if (close == std::string::npos) throw ConfigError("malformed Slurm hostlist '" + list + "'");
    const std::string prefix = item.substr(0, open), suffix = item.substr(close + 1);
    std::string body = item.substr(open + 1, close - open - 1);
    for (const auto& range : split_top_level(body)) {
      const auto dash = range.find('-');
      if (dash == std::string::npos) {
        hosts.push_back(prefix + range + suffix);
        continue;
      }
      const std::string lo = range.substr(0, dash), hi = range.substr(dash + 1);
      const int a = parse_int("SLURM_JOB_NODELIST", lo), b = parse_int("SLURM_JOB_NODELIST", hi);
      for (int i = a; i <= b; ++i) {
        std::string n = std::to_string(i);
        if (n.size() < lo.size()) n = std::string(lo.size() - n.size(), '0') + n;  // keep zero padding
        hosts.push_back(prefix + n + suffix);
      }
    }
  }
  return hosts;
}

ProcessPlacement placement_from_env(const EnvLookup& lookup) {
  const EnvLookup env = lookup ? lookup : EnvLookup(process_env);
  ProcessPlacement p;
  auto get_int = [&](const std::string& name, int fallback) {
    auto v = env(name);
    return v ? parse_int(name, *v) : fallback;
  };
  if (env("SLURM_PROCID")) {
    p.source = "slurm";
    p.rank = get_int("SLURM_PROCID", 0);
    p.world_size = get_int("SLURM_NTASKS", 1);
    p.local_rank = get_int("SLURM_LOCALID", 0);
    if (auto addr = env("MASTER_ADDR")) {
      p.master_addr = *addr;
    } else if (auto nodes = env("SLURM_JOB_NODELIST")) {
      auto hosts = expand_slurm_hostlist(*nodes);
      if (hosts.empty()) throw ConfigError("SLURM_JOB_NODELIST='" + *nodes + "' names no host");
      p.master_addr = hosts.front();
    }
  } else if (env("RANK")) {
    p.source = "torchrun";
    p.rank = get_int("RANK", 0);
    p.world_size = get_int("WORLD_SIZE", 1);
    p.local_rank = get_int("LOCAL_RANK", 0);
    if (auto addr = env("MASTER_ADDR")) p.master_addr = *addr;
  } else {
    p.source = "default";
  }
  p.master_port = get_int("MASTER_PORT", p.master_port);
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size)
    throw ConfigError("rank " + std::to_string(p.rank) + " is outside world size " + std::to_string(p.world_size) +
                      " (from " + p.source + " variables)");
  return p;
}

bool tcp_port_in_use(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool taken = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno == EADDRINUSE;
  close(fd);
  return taken;
}

std::string job_token_from_env(const EnvLookup& lookup) {
  const EnvLookup env = lookup ? lookup : EnvLookup(process_env);
  if (auto t = env("HETERO_JOB_TOKEN")) return *t;
  if (auto job = env("SLURM_JOB_ID")) return "slurm-" + *job + "." + env("SLURM_STEP_ID").value_or("0");
  return "";
}

}  // namespace hetero
