#include "ranks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/serialize.h>

namespace hetero::test {
namespace {
constexpr std::chrono::seconds kCommTimeout{30};
}

std::string run_ranks(int world, const std::function<void(int, const StorePtr&)>& body, int timeout_s) {
  c10d::TCPStoreOptions opts;
  opts.port = 0;  // any free port
  opts.isServer = true;
  opts.waitWorkers = false;
  opts.timeout = kCommTimeout;
  auto server = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", opts);
  const int port = server->getPort();
  std::vector<pid_t> children;
  for (int rank = 0; rank < world; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      at::set_num_threads(1);
      int code = 0;
      try {
        body(rank, make_tcp_store("127.0.0.1", port, false, world, kCommTimeout));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
        code = 1;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    children.push_back(pid);
  }
  std::string failures;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::vector<bool> done(world, false);
  for (int left = world; left > 0;) {
    for (int rank = 0; rank < world; ++rank) {
      if (done[rank]) continue;
      int status = 0;
      if (waitpid(children[rank], &status, WNOHANG) != children[rank]) continue;
      done[rank] = true;
      --left;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures += "rank " + std::to_string(rank) + " failed (status " + std::to_string(status) + "); ";
    }
    if (left > 0 && std::chrono::steady_clock::now() > deadline) {
      for (int rank = 0; rank < world; ++rank)
        if (!done[rank]) {
          kill(children[rank], SIGKILL);
          waitpid(children[rank], nullptr, 0);
          done[rank] = true;
          failures += "rank " + std::to_string(rank) + " timed out; ";
        }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return failures;
}

Group make_group(const StorePtr& store, const std::string& key, const std::vector<int>& ranks, int my_rank) {
  Group g;
  g.ranks = ranks;
  g.rank = static_cast<int>(std::find(ranks.begin(), ranks.end(), my_rank) - ranks.begin());
  g.comm = make_gloo_comm(make_prefix_store(key, store), g.rank, g.size(), kCommTimeout, /*single_host=*/true);
  return g;
}

void save_tensors(const std::string& path, const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> detached;
  for (const auto& t : tensors) detached.push_back(t.detach().cpu());
  torch::save(detached, path);
}

std::vector<at::Tensor> load_tensors(const std::string& path) {
  std::vector<at::Tensor> tensors;
  torch::load(tensors, path);
  return tensors;
}

std::string temp_dir(const std::string& tag) {
  std::string pattern = "/tmp/hetero-" + tag + "-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  return pattern;
}

}  // namespace hetero::test
