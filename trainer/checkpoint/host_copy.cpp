#include "checkpoint/host_copy.h"

#include <chrono>
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
  at::cuda::CUDAEvent done;
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
// Exactly `like`'s bytes of pinned memory. LibTorch's pinned allocator
// rounds every block up to a power of two, which for a model's state costs
// up to twice the memory; cudaHostAlloc takes the exact size.
at::Tensor pinned_like(const at::Tensor& like) {
  const size_t bytes = static_cast<size_t>(like.numel()) * like.element_size();
  void* p = nullptr;
  if (bytes > 0) {
    const cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocDefault);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clears the error for later calls
      std::ostringstream msg;
      msg << "cannot pin " << bytes / 1e9 << " GB of host memory for a checkpoint copy (" << cudaGetErrorString(e)
          << "): the host must hold every rank's checkpoint pieces in pinned memory; give the job more host "
             "memory per GPU or fewer ranks per node";
      throw std::runtime_error(msg.str());
    }
  }
  return at::from_blob(p, like.sizes(), [](void* q) { if (q) cudaFreeHost(q); },
                       at::TensorOptions().dtype(like.scalar_type()));
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
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<at::Tensor> host;
      double bytes = 0;
      for (const at::Tensor& s : shapes) {
        host.push_back(pinned_like(s));
        bytes += static_cast<double>(s.numel()) * s.element_size();
      }
      host_ = std::move(host);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (report) {
        std::ostringstream line;
        line << "pinned " << bytes / 1e9 << " GB of host memory for checkpoint copies in " << secs
             << " s, in the background";
        report(line.str());
      }
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
    host_.clear();
    for (const at::Tensor& t : src) host_.push_back(pinned_like(t));
  }
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream();
  if (!sync_) sync_ = std::make_unique<DeviceSync>(c10::cuda::getStreamFromPool());
  // The copy starts once the work queued so far (the optimizer step) is done.
  at::cuda::CUDAEvent ready;
  ready.record(compute);
  ready.block(sync_->stream);
  {
    c10::cuda::CUDAStreamGuard guard(sync_->stream);
    for (size_t i = 0; i < src.size(); ++i) host_[i].copy_(src[i], /*non_blocking=*/true);
  }
  sync_->done.record(sync_->stream);
#else
  (void)reusable;
#endif
}

void HostCopy::wait_on_host() {
#ifdef HETERO_WITH_CUDA
  if (sync_) sync_->done.synchronize();
#endif
}

void HostCopy::order_before_updates() {
#ifdef HETERO_WITH_CUDA
  if (sync_) sync_->done.block(c10::cuda::getCurrentCUDAStream());
#endif
}

}  // namespace hetero
