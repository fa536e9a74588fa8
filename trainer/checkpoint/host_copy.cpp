#include "checkpoint/host_copy.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <sstream>
#include <stdexcept>

#ifdef HETERO_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace hetero {

#ifdef HETERO_WITH_CUDA
struct HostCopy::DeviceSync {
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAEvent ready, done;  // the copy's start (compute stream) and end (side stream)
  explicit DeviceSync(c10::cuda::CUDAStream s) : stream(s) {}
};
#else
struct HostCopy::DeviceSync {};
#endif

HostCopy::HostCopy() = default;

HostCopy::~HostCopy() {
  if (reserving_.joinable()) reserving_.join();
}

namespace {

// The pinned buffers of the last save fit this one when every shape and
// dtype is the same (the usual case: the same pieces every save).
bool reusable(const std::vector<at::Tensor>& host, const std::vector<at::Tensor>& src) {
  if (host.size() != src.size()) return false;
  for (size_t i = 0; i < src.size(); ++i)
    if (host[i].sizes() != src[i].sizes() || host[i].scalar_type() != src[i].scalar_type()) return false;
  return true;
}

#ifdef HETERO_WITH_CUDA
// Pinned host tensors of exactly `like`'s shapes. Pinning is what takes the
// time (tens of seconds for a model's state) and cudaHostAlloc does it
// under the driver's lock, one thread, while the training's kernel
// launches wait. Here the pages are first faulted in by several threads
// without any CUDA call, and only then registered with the driver, tensor
// by tensor. (LibTorch's pinned allocator also rounds each block up to a
// power of two, up to twice the memory.) `timing` gets the two phases.
std::vector<at::Tensor> pinned_like(const std::vector<at::Tensor>& like, std::string* timing) {
  constexpr size_t kPage = 4096;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<void*> blocks(like.size(), nullptr);
  std::vector<size_t> sizes(like.size(), 0);
  double total = 0;
  for (size_t i = 0; i < like.size(); ++i) {
    sizes[i] = static_cast<size_t>(like[i].numel()) * like[i].element_size();
    total += static_cast<double>(sizes[i]);
  }
  for (size_t i = 0; i < like.size(); ++i) {
    if (sizes[i] == 0) continue;
    blocks[i] = std::aligned_alloc(kPage, (sizes[i] + kPage - 1) / kPage * kPage);
    if (!blocks[i]) {
      for (void* b : blocks) std::free(b);
      throw std::runtime_error("cannot allocate " + std::to_string(total / 1e9) +
                               " GB of host memory for checkpoint copies: the host must hold every rank's "
                               "checkpoint pieces; give the job more host memory per GPU or fewer ranks per node");
    }
  }
  {
    const unsigned n = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
    std::vector<std::thread> touch;
    for (unsigned w = 0; w < n; ++w)
      touch.emplace_back([&, w] {
        for (size_t i = w; i < blocks.size(); i += n)
          if (blocks[i]) std::memset(blocks[i], 0, sizes[i]);
      });
    for (std::thread& t : touch) t.join();
  }
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < like.size(); ++i) {
    void* p = blocks[i];
    if (p) {
      const cudaError_t e = cudaHostRegister(p, sizes[i], cudaHostRegisterDefault);
      if (e != cudaSuccess) {
        cudaGetLastError();  // clears the error for later calls
        for (size_t j = i; j < blocks.size(); ++j) std::free(blocks[j]);
        std::ostringstream msg;
        msg << "cannot pin " << total / 1e9 << " GB of host memory for checkpoint copies (" << cudaGetErrorString(e)
            << "): the host must hold every rank's checkpoint pieces in pinned memory; give the job more host "
               "memory per GPU or fewer ranks per node";
        throw std::runtime_error(msg.str());
      }
    }
    out.push_back(at::from_blob(
        p, like[i].sizes(),
        [](void* q) {
          if (!q) return;
          cudaHostUnregister(q);
          std::free(q);
        },
        at::TensorOptions().dtype(like[i].scalar_type())));
  }
  if (timing) {
    const auto t2 = std::chrono::steady_clock::now();
    std::ostringstream line;
    line << total / 1e9 << " GB: pages faulted in " << std::chrono::duration<double>(t1 - t0).count()
         << " s, registered in " << std::chrono::duration<double>(t2 - t1).count() << " s";
    *timing = line.str();
  }
  return out;
}
#endif

}  // namespace

void HostCopy::reserve(const std::vector<at::Tensor>& like, std::function<void(const std::string&)> report) {
  finish_reserve();
  if (like.empty() || !like.front().is_cuda()) return;  // CPU: start() copies into fresh tensors
#ifdef HETERO_WITH_CUDA
  std::vector<at::Tensor> shapes;  // metadata only: the thread must not touch the device tensors
  for (const at::Tensor& t : like) shapes.push_back(at::empty(t.sizes(), t.options().device(at::kMeta)));
  const c10::DeviceIndex device = like.front().device().index();
  reserving_ = std::thread([this, shapes = std::move(shapes), device, report = std::move(report)] {
    try {
      // On the rank's own device: a thread starts on device 0, and a CUDA
      // call there would open a context on another rank's GPU.
      c10::cuda::CUDAGuard guard(device);
      std::string timing;
      host_ = pinned_like(shapes, &timing);
      if (report) report("pinned host memory for checkpoint copies in the background, " + timing);
    } catch (const std::exception& e) {
      reserve_error_ = e.what();
    }
  });
#else
  (void)report;
#endif
}

void HostCopy::finish_reserve() {
  if (reserving_.joinable()) reserving_.join();
  if (!reserve_error_.empty()) {
    const std::string e = reserve_error_;
    reserve_error_.clear();
    throw std::runtime_error(e);
  }
}

void HostCopy::start(const std::vector<at::Tensor>& src) {
  finish_reserve();
  const bool on_device = !src.empty() && src.front().is_cuda();
  if (!on_device) {
    host_.clear();
    for (const at::Tensor& t : src) host_.push_back(t.is_cuda() ? t.cpu() : t.clone());
    return;
  }
#ifdef HETERO_WITH_CUDA
  if (!reusable(host_, src)) {
    host_ = pinned_like(src, nullptr);
  }
  src_ = src;
  if (!sync_) sync_ = std::make_unique<DeviceSync>(c10::cuda::getStreamFromPool());
  sync_->ready.record(c10::cuda::getCurrentCUDAStream());  // after the optimizer step
  std::lock_guard<std::mutex> lock(mutex_);
  queued_ = false;
#else
  (void)reusable;
#endif
}

void HostCopy::copy_to_host() {
#ifdef HETERO_WITH_CUDA
  if (src_.empty()) return;  // CPU: start() copied
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queued_) return;
  }
  struct MarkQueued {  // also when queuing throws: the training thread must not wait forever
    HostCopy* copy;
    ~MarkQueued() {
      std::lock_guard<std::mutex> lock(copy->mutex_);
      copy->queued_ = true;
      copy->queued_cv_.notify_all();
    }
  };
  {
    MarkQueued mark{this};
    c10::cuda::CUDAGuard device(src_.front().device());
    c10::cuda::CUDAStreamGuard stream(sync_->stream);
    sync_->ready.block(sync_->stream);
    // In slices of at most 256 MB with at most two in flight: tens of GB
    // queued at once fill the driver's queue, and then other threads' CUDA
    // calls (the training's kernel launches) wait until it drains.
    constexpr int64_t kSliceBytes = int64_t{256} << 20;
    std::deque<at::cuda::CUDAEvent> in_flight;
    for (size_t i = 0; i < src_.size(); ++i) {
      const at::Tensor from = src_[i].reshape({-1}), to = host_[i].view({-1});
      const int64_t step = std::max<int64_t>(1, kSliceBytes / std::max<int64_t>(1, from.element_size()));
      for (int64_t at = 0; at < from.numel(); at += step) {
        const int64_t n = std::min(step, from.numel() - at);
        to.narrow(0, at, n).copy_(from.narrow(0, at, n), /*non_blocking=*/true);
        in_flight.emplace_back();
        in_flight.back().record(sync_->stream);
        if (in_flight.size() > 2) {
          in_flight.front().synchronize();
          in_flight.pop_front();
        }
      }
    }
    sync_->done.record(sync_->stream);
  }
  sync_->done.synchronize();
  src_.clear();
#endif
}

void HostCopy::order_before_updates() {
#ifdef HETERO_WITH_CUDA
  if (!sync_) return;
  std::unique_lock<std::mutex> lock(mutex_);
  queued_cv_.wait(lock, [this] { return queued_; });
  sync_->done.block(c10::cuda::getCurrentCUDAStream());
#endif
}

}  // namespace hetero
