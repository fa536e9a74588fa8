#include "checkpoint/host_copy.h"

#ifdef HETERO_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
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
HostCopy::~HostCopy() = default;

namespace {
// The pinned buffers of the last save fit this one when every shape and
// dtype is the same (the usual case: the same pieces every save).
bool reusable(const std::vector<at::Tensor>& host, const std::vector<at::Tensor>& src) {
  if (host.size() != src.size()) return false;
  for (size_t i = 0; i < src.size(); ++i)
    if (host[i].sizes() != src[i].sizes() || host[i].scalar_type() != src[i].scalar_type()) return false;
  return true;
}
}  // namespace

void HostCopy::start(const std::vector<at::Tensor>& src) {
  const bool on_device = !src.empty() && src.front().is_cuda();
  if (!on_device) {
    host_.clear();
    for (const at::Tensor& t : src) host_.push_back(t.is_cuda() ? t.cpu() : t.clone());
    return;
  }
#ifdef HETERO_WITH_CUDA
  if (!reusable(host_, src)) {
    host_.clear();
    for (const at::Tensor& t : src)
      host_.push_back(at::empty(t.sizes(), at::TensorOptions().dtype(t.scalar_type()).pinned_memory(true)));
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
