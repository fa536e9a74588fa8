#include "kernels/grad_stats_launch.h"

#include <cstdint>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "dist/device_copy.h"
#include "kernels/grad_stats_cuda.h"

namespace hetero {

at::Tensor grad_stats_cuda(const std::vector<at::Tensor>& grads) {
  TORCH_CHECK(!grads.empty(), "grad_stats_cuda: no gradients");
  const at::Device device = grads.front().device();
  std::vector<const at::Tensor*> parts;  // the non-empty ones
  for (const at::Tensor& g : grads) {
    TORCH_CHECK(g.is_cuda() && g.device() == device && g.scalar_type() == at::kFloat && g.is_contiguous(),
                "grad_stats_cuda: gradients must be contiguous fp32 CUDA tensors on one device, got ",
                g.scalar_type(), " on ", g.device());
    if (g.numel() > 0) parts.push_back(&g);
  }
  const auto f64 = at::TensorOptions().dtype(at::kDouble).device(device);
  if (parts.empty()) return at::zeros({2}, f64);
  TORCH_CHECK(parts.size() <= static_cast<size_t>(INT32_MAX), "grad_stats_cuda: too many gradients");
  const int count = static_cast<int>(parts.size());
  // {addresses, ends} (grad_stats_cuda.h), staged in pinned memory.
  at::Tensor table = host_staging({2 * static_cast<int64_t>(count)}, at::kLong, device);
  int64_t* entries = table.data_ptr<int64_t>();
  int64_t total = 0;
  for (int t = 0; t < count; ++t) {
    entries[t] = static_cast<int64_t>(reinterpret_cast<std::uintptr_t>(parts[t]->data_ptr<float>()));
    total += parts[t]->numel();
    entries[count + t] = total;
  }
  const c10::cuda::CUDAGuard guard(device);
  const at::Tensor on_device = copy_to_device(table, device);
  at::Tensor partials = at::empty({grad_stats_blocks(total), 2}, f64);
  const cudaError_t err = grad_stats_fp32(on_device.data_ptr<int64_t>(), count, total, partials.data_ptr<double>(),
                                          at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "grad_stats kernel: ", cudaGetErrorString(err));
  return partials.sum(0);
}

}  // namespace hetero
