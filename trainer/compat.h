// Every difference between the LibTorch versions we build against (Debian's
// 1.13 CPU build and PyTorch >= 2.4 with CUDA) lives in this header.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// PyTorch's wheels ship c10d's Gloo header without gloo's own headers, so
// Gloo (CPU tensors) is available only where gloo is installed (Debian's
// libgloo-dev); CUDA builds from a wheel communicate through NCCL alone.
#if __has_include(<gloo/algorithm.h>)
#define HETERO_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef HETERO_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace hetero {

#if TORCH_VERSION_MAJOR >= 2
// Since 2.0 concrete backends (Gloo, NCCL) derive from c10d::Backend.
using CommBackend = c10d::Backend;
#else
using CommBackend = c10d::ProcessGroup;
#endif
using Comm = c10::intrusive_ptr<CommBackend>;
using StorePtr = c10::intrusive_ptr<c10d::Store>;

#ifdef HETERO_HAVE_GLOO
inline constexpr bool kHaveGloo = true;
#else
inline constexpr bool kHaveGloo = false;
#endif

// Gloo's device must be reachable by peers: loopback only works on one host.
inline Comm make_gloo_comm(const StorePtr& store, int rank, int size, std::chrono::milliseconds timeout,
                           bool single_host) {
#ifdef HETERO_HAVE_GLOO
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->timeout = timeout;
  opts->devices.push_back(single_host ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                      : c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
#else
  (void)store, (void)rank, (void)size, (void)timeout, (void)single_host;
  throw std::runtime_error("this build has no Gloo (CPU) process groups: gloo headers were not found at build "
                           "time; run with --device cuda, or build against a LibTorch with gloo headers");
#endif
}

#ifdef HETERO_WITH_CUDA
inline Comm make_nccl_comm(const StorePtr& store, int rank, int size, std::chrono::milliseconds timeout) {
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
}

// NCCL warns at exit unless its groups are shut down explicitly.
inline void shutdown_comm(const Comm& comm) {
  if (auto* nccl = dynamic_cast<c10d::ProcessGroupNCCL*>(comm.get())) nccl->shutdown();
}
#else
inline void shutdown_comm(const Comm&) {}
#endif

// at::_grouped_mm (one GEMM over groups of rows, each with its own matrix)
// exists from LibTorch 2.8 and has CUTLASS kernels for bf16 on SM90 and
// later; 1.13 has none, so there the MoE runs its per-expert loop.
#if defined(HETERO_WITH_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
#define HETERO_HAVE_GROUPED_MM 1
#endif

// Whether grouped_mm() runs its fused kernel (no host sync) for these
// operands: bf16 on an SM90 or SM100 device (where _grouped_mm_cuda takes its
// fast path), row strides of 16-byte multiples (k, n multiples of 8).
inline bool grouped_mm_fits(const at::Tensor& x, int64_t k, int64_t n) {
#ifdef HETERO_HAVE_GROUPED_MM
  if (!x.is_cuda() || x.scalar_type() != at::kBFloat16 || k % 8 != 0 || n % 8 != 0) return false;
  const int major = at::cuda::getDeviceProperties(x.device().index())->major;
  return major == 9 || major == 10;
#else
  (void)x, (void)k, (void)n;
  return false;
#endif
}

// x [rows, k] grouped by rows (group g: rows [ends[g-1], ends[g])), w
// [groups, k, n]: [rows, n], row r times the matrix of its group. `ends`:
// int32 [groups], cumulative (at::_grouped_mm's `offs`). Differentiable.
inline at::Tensor grouped_mm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& ends) {
#ifdef HETERO_HAVE_GROUPED_MM
  return at::_grouped_mm(x, w, ends);
#else
  (void)x, (void)w, (void)ends;
  throw std::logic_error("grouped_mm: this LibTorch has no at::_grouped_mm (check grouped_mm_fits first)");
#endif
}

// wait_workers: the server's constructor waits for `world` clients (false:
// the caller counts arrivals itself, to name the ranks that never came).
inline StorePtr make_tcp_store(const std::string& host, int port, bool is_server, int world,
                               std::chrono::milliseconds timeout, bool wait_workers = true) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = is_server;
  opts.numWorkers = world;
  opts.waitWorkers = wait_workers;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(host, opts);
}

inline StorePtr make_prefix_store(const std::string& prefix, const StorePtr& base) {
  return c10::make_intrusive<c10d::PrefixStore>(prefix, base);
}

}  // namespace hetero
