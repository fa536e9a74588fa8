#include "kernels/chunk_scores_launch.h"

#include <algorithm>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/chunk_scores_cuda.h"

namespace hetero {
namespace {

// The kernels' limits and layout; the shapes themselves were checked by the caller.
void check(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt) {
  const int64_t q = cb.size(-1), hg = a_cum.size(3);
  TORCH_CHECK(q <= kChunkScoresMaxChunk, "chunk_scores on CUDA: chunk q=", q, " exceeds the kernel's limit of ",
              kChunkScoresMaxChunk, "; use a smaller mamba chunk_size");
  TORCH_CHECK(hg <= kChunkScoresMaxHeadsPerGroup, "chunk_scores on CUDA: heads per group hg=", hg,
              " exceeds the kernel's limit of ", kChunkScoresMaxHeadsPerGroup);
  for (const at::Tensor* t : {&cb, &a_cum, &dt}) {
    TORCH_CHECK(t->is_cuda() && t->scalar_type() == at::kFloat && t->is_contiguous(),
                "chunk_scores on CUDA: CB, a_cum and dt must be contiguous fp32 CUDA tensors, got ", t->toString(),
                " of strides ", t->strides());
  }
}

const float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

at::Tensor chunk_scores_cuda(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt,
                             at::ScalarType out_dtype) {
  check(cb, a_cum, dt);
  const c10::cuda::CUDAGuard guard(cb.device());
  const int64_t q = cb.size(-1), hg = a_cum.size(3), groups = cb.numel() / std::max<int64_t>(1, q * q);
  auto sizes = a_cum.sizes().vec();
  sizes.push_back(q);  // [b, c, g, hg, q, q]
  at::Tensor scores = at::empty(sizes, a_cum.options().dtype(out_dtype));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  cudaError_t err;
  if (out_dtype == at::kFloat) {
    err = chunk_scores_forward(f32(cb), f32(a_cum), f32(dt), scores.data_ptr<float>(), groups, static_cast<int>(hg),
                               static_cast<int>(q), stream);
  } else {
    TORCH_CHECK(out_dtype == at::kBFloat16, "chunk_scores on CUDA: out_dtype ", out_dtype, " is not fp32 or bf16");
    auto* out = reinterpret_cast<__nv_bfloat16*>(scores.data_ptr<at::BFloat16>());
    err = chunk_scores_forward(f32(cb), f32(a_cum), f32(dt), out, groups, static_cast<int>(hg), static_cast<int>(q),
                               stream);
  }
  TORCH_CHECK(err == cudaSuccess, "chunk_scores forward kernel: ", cudaGetErrorString(err));
  return scores;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_scores_backward_cuda(const at::Tensor& d_scores,
                                                                          const at::Tensor& cb,
                                                                          const at::Tensor& a_cum,
                                                                          const at::Tensor& dt) {
  check(cb, a_cum, dt);
  TORCH_CHECK(d_scores.is_cuda() && d_scores.is_contiguous(), "chunk_scores backward on CUDA: d_scores must be a ",
              "contiguous CUDA tensor, got ", d_scores.toString(), " of strides ", d_scores.strides());
  const c10::cuda::CUDAGuard guard(cb.device());
  const int64_t q = cb.size(-1), hg = a_cum.size(3), groups = cb.numel() / std::max<int64_t>(1, q * q);
  at::Tensor d_cb = at::empty_like(cb);
  at::Tensor d_a_cum = at::zeros_like(a_cum), d_dt = at::zeros_like(dt);  // the kernel adds into them
  // Scratch for the per-tile row and column sums (on the current stream's allocator, freed after use).
  at::Tensor workspace = at::empty(
      {std::max<int64_t>(1, chunk_scores_backward_workspace_floats(groups, static_cast<int>(hg), static_cast<int>(q)))},
      cb.options());
  float* ws = workspace.data_ptr<float>();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  cudaError_t err;
  if (d_scores.scalar_type() == at::kFloat) {
    err = chunk_scores_backward(d_scores.data_ptr<float>(), f32(cb), f32(a_cum), f32(dt), d_cb.data_ptr<float>(),
                                d_a_cum.data_ptr<float>(), d_dt.data_ptr<float>(), ws, groups, static_cast<int>(hg),
                                static_cast<int>(q), stream);
  } else {
    TORCH_CHECK(d_scores.scalar_type() == at::kBFloat16, "chunk_scores backward on CUDA: d_scores dtype ",
                d_scores.scalar_type(), " is not fp32 or bf16");
    const auto* ds = reinterpret_cast<const __nv_bfloat16*>(d_scores.data_ptr<at::BFloat16>());
    err = chunk_scores_backward(ds, f32(cb), f32(a_cum), f32(dt), d_cb.data_ptr<float>(), d_a_cum.data_ptr<float>(),
                                d_dt.data_ptr<float>(), ws, groups, static_cast<int>(hg), static_cast<int>(q), stream);
  }
  TORCH_CHECK(err == cudaSuccess, "chunk_scores backward kernel: ", cudaGetErrorString(err));
  return {d_cb, d_a_cum, d_dt};
}

}  // namespace hetero
