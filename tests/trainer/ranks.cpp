#include "ranks.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/serialize.h>

#include "layer_checks.h"

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

void expect_tp2_matches_single(const std::string& tag, uint64_t param_seed, const at::Tensor& x_all,
                               const at::Tensor& direction, const BuildAndRun& run) {
  const Group one = single_group();
  ParamSet ps(param_seed, 0, 1, at::kCPU);
  const at::Tensor x = x_all.clone().set_requires_grad(true);
  const at::Tensor y = run(ps, one, x);
  (y * direction).sum().backward();

  if (!kHaveGloo) GTEST_SKIP() << "this build has no Gloo process groups (LibTorch from a wheel)";
  const std::string dir = temp_dir(tag);
  const std::string failed = run_ranks(2, [&](int rank, const StorePtr& store) {
    const Group tp = make_group(store, "tp", {0, 1}, rank);
    ParamSet local(param_seed, tp.rank, tp.size(), at::kCPU);
    const at::Tensor xr = x_all.clone().set_requires_grad(true);
    const at::Tensor yr = run(local, tp, xr);
    (yr * direction).sum().backward();
    std::vector<at::Tensor> saved{yr, xr.grad()};
    for (const auto& p : local.params()) saved.push_back(p.value.grad());
    save_tensors(dir + "/rank" + std::to_string(rank), saved);
  });
  ASSERT_EQ(failed, "");
  for (int rank = 0; rank < 2; ++rank) {
    const auto t = load_tensors(dir + "/rank" + std::to_string(rank));
    expect_close(t[0], y.detach(), 1e-5, "output");
    expect_close(t[1], x.grad(), 1e-5, "dx");
    ASSERT_EQ(t.size(), 2 + ps.params().size());
    for (size_t i = 0; i < ps.params().size(); ++i) {
      // A single process keeps no shard dim: it is where the rank's shape differs.
      const Param& p = ps.params()[i];
      at::Tensor want = p.value.grad();
      for (int64_t d = 0; d < want.dim(); ++d)
        if (t[2 + i].dim() == want.dim() && t[2 + i].size(d) != want.size(d)) want = want.chunk(2, d)[rank];
      expect_close(t[2 + i], want, 1e-5, "grad of " + p.name);
    }
  }
  remove_flat_dir(dir);
}

}  // namespace hetero::test
