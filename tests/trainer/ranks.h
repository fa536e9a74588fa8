// Multi-rank layer tests: forks real processes that talk over real Gloo
// process groups, rendezvousing on a TCPStore served by the test process.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "dist/comm.h"
#include "model/params.h"

// Multi-rank tests need Gloo; a CUDA build from a PyTorch wheel has none
// (compat.h), and runs the single-process layer tests only.
#define HETERO_SKIP_WITHOUT_GLOO()                                                                  \
  if (!::hetero::kHaveGloo)                                                                         \
  GTEST_SKIP() << "this build has no Gloo process groups (LibTorch from a wheel); the CPU build runs " \
                  "the multi-rank layer tests"

namespace hetero::test {

// Runs body(rank, store) in `world` child processes and waits for them (at
// most `timeout_s`, then kills them). Returns "" when every child exited 0,
// else what went wrong. Children run single-threaded (OpenMP state does
// not survive fork) and leave with _exit, so no test state is torn down twice.
std::string run_ranks(int world, const std::function<void(int rank, const StorePtr& store)>& body,
                      int timeout_s = 60);

// A Gloo group over `ranks` (global ranks, ascending, containing my_rank).
Group make_group(const StorePtr& store, const std::string& key, const std::vector<int>& ranks, int my_rank);

// Tensors handed from a child to the test process through a file.
void save_tensors(const std::string& path, const std::vector<at::Tensor>& tensors);
std::vector<at::Tensor> load_tensors(const std::string& path);
// A fresh empty directory for such files.
std::string temp_dir(const std::string& tag);

// Builds a layer into `params` for the tp group `tp`, sets its weights from
// a fixed seed (randomize), and applies it to `x`.
using BuildAndRun = std::function<at::Tensor(ParamSet& params, const Group& tp, const at::Tensor& x)>;

// The layer on one process and on two tp ranks (real processes over Gloo),
// same input, same weights: each rank's output and input gradient equal the
// single process's, and each parameter's gradient is the single process's
// chunk along the parameter's tp_shard_dim (all of it where replicated).
void expect_tp2_matches_single(const std::string& tag, uint64_t param_seed, const at::Tensor& x_all,
                               const at::Tensor& direction, const BuildAndRun& run);

}  // namespace hetero::test
