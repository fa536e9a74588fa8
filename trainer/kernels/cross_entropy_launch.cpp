#include "kernels/cross_entropy_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cross_entropy_cuda.h"
#include "kernels/element_ptr.h"

namespace hetero {
namespace {

// The rows' row stride; a single row may carry any stride.
int64_t row_stride(const at::Tensor& t) { return t.size(0) > 1 ? t.stride(0) : t.size(1); }

CrossEntropyRows shape_of(const at::Tensor& logits, const at::Tensor& labels, int64_t label_start) {
  TORCH_CHECK(logits.is_cuda() && (logits.scalar_type() == at::kBFloat16 || logits.scalar_type() == at::kHalf),
              "cross-entropy kernels: the logits must be bf16 or fp16 on CUDA, got ", logits.scalar_type(), " on ",
              logits.device());
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) > 0 && logits.size(1) <= INT32_MAX && logits.stride(1) == 1 &&
                  row_stride(logits) >= logits.size(1),
              "cross-entropy kernels: the logits must be [n, V/tp] with unit column stride, got ", logits.sizes(),
              " strides ", logits.strides());
  TORCH_CHECK(labels.device() == logits.device() && labels.scalar_type() == at::kLong && labels.dim() == 1 &&
                  labels.is_contiguous() && labels.size(0) == logits.size(0),
              "cross-entropy kernels: the labels must be contiguous int64 [", logits.size(0), "] on ",
              logits.device(), ", got ", labels.scalar_type(), " ", labels.sizes(), " on ", labels.device());
  CrossEntropyRows s;
  s.rows = logits.size(0);
  s.cols = static_cast<int>(logits.size(1));
  s.ld = row_stride(logits);
  s.label_start = label_start;
  return s;
}

void check_row_vector(const at::Tensor& t, const at::Tensor& logits, const char* name) {
  TORCH_CHECK(t.device() == logits.device() && t.scalar_type() == at::kFloat && t.dim() == 1 && t.is_contiguous() &&
                  t.size(0) == logits.size(0),
              "cross-entropy gradient kernel: ", name, " must be contiguous fp32 [", logits.size(0), "] on ",
              logits.device(), ", got ", t.scalar_type(), " ", t.sizes(), " on ", t.device());
}

const float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

CrossEntropyRowStats cross_entropy_row_stats_cuda(const at::Tensor& logits, const at::Tensor& labels,
                                                  int64_t label_start) {
  const CrossEntropyRows s = shape_of(logits, labels, label_start);
  const c10::cuda::CUDAGuard guard(logits.device());
  const auto f = logits.options().dtype(at::kFloat);
  CrossEntropyRowStats r{at::empty({s.rows}, f), at::empty({2, s.rows}, f)};
  float* sums = r.sums.data_ptr<float>();
  const cudaError_t err = dispatch_half(logits.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return cross_entropy_row_stats(T::ptr(logits), labels.data_ptr<int64_t>(), s, r.max.data_ptr<float>(), sums,
                                   sums + s.rows, at::cuda::getCurrentCUDAStream());
  });
  TORCH_CHECK(err == cudaSuccess, "cross-entropy row stats kernel: ", cudaGetErrorString(err));
  return r;
}

void cross_entropy_logit_grad_cuda(const at::Tensor& logits, const at::Tensor& d_logits, const at::Tensor& labels,
                                   int64_t label_start, const at::Tensor& max, const at::Tensor& sum,
                                   const at::Tensor& mask) {
  const CrossEntropyRows s = shape_of(logits, labels, label_start);
  TORCH_CHECK(d_logits.device() == logits.device() && d_logits.scalar_type() == logits.scalar_type() &&
                  d_logits.sizes() == logits.sizes() && d_logits.stride(1) == 1 &&
                  row_stride(d_logits) >= d_logits.size(1),
              "cross-entropy gradient kernel: d_logits must be like the logits ", logits.sizes(), " ",
              logits.scalar_type(), " with unit column stride, got ", d_logits.sizes(), " ", d_logits.scalar_type(),
              " strides ", d_logits.strides());
  check_row_vector(max, logits, "max");
  check_row_vector(sum, logits, "sum");
  check_row_vector(mask, logits, "mask");
  const c10::cuda::CUDAGuard guard(logits.device());
  // The kernel's 16-byte vectors need the two rows at one offset from the grid; else in place, then a copy.
  const bool direct = cross_entropy_rows_alike(logits.data_ptr(), s.ld, d_logits.data_ptr(), row_stride(d_logits),
                                               static_cast<int>(logits.element_size()));
  const at::Tensor& out = direct ? d_logits : logits;
  const cudaError_t err = dispatch_half(logits.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return cross_entropy_logit_grad(T::ptr(logits), T::ptr(out), row_stride(out), labels.data_ptr<int64_t>(),
                                    f32(max), f32(sum), f32(mask), s, at::cuda::getCurrentCUDAStream());
  });
  TORCH_CHECK(err == cudaSuccess, "cross-entropy gradient kernel: ", cudaGetErrorString(err));
  if (!direct) d_logits.copy_(logits);
}

}  // namespace hetero
