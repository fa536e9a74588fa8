// Host helpers of the kernels' at::Tensor wrappers (*_launch.cpp, CUDA
// build only): a tensor's data as the kernels' element type, and a call of
// a kernel template for the element types of the tensors at hand.
#pragma once

#include <ATen/ATen.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace hetero {

// Element<T>::ptr(t): t's data as T*, T float, __nv_bfloat16 or __half (t's dtype checked by the caller).
template <typename T>
struct Element;
template <>
struct Element<float> {
  static float* ptr(const at::Tensor& t) { return t.data_ptr<float>(); }
};
template <>
struct Element<__nv_bfloat16> {
  static __nv_bfloat16* ptr(const at::Tensor& t) {
    return reinterpret_cast<__nv_bfloat16*>(t.data_ptr<at::BFloat16>());
  }
};
template <>
struct Element<__half> {
  static __half* ptr(const at::Tensor& t) { return reinterpret_cast<__half*>(t.data_ptr<at::Half>()); }
};

// f(Element<T>()) for dtype bf16 (T = __nv_bfloat16) or else fp32.
template <typename F>
cudaError_t dispatch_element(at::ScalarType dtype, F&& f) {
  if (dtype == at::kBFloat16) return f(Element<__nv_bfloat16>());
  return f(Element<float>());
}

// f(Element<T>()) for dtype fp16 (T = __half) or else bf16: kernels of 16-bit data only.
template <typename F>
cudaError_t dispatch_half(at::ScalarType dtype, F&& f) {
  if (dtype == at::kHalf) return f(Element<__half>());
  return f(Element<__nv_bfloat16>());
}

// f(Element<A>(), Element<B>()) for two dtypes, each bf16 or else fp32.
template <typename F>
cudaError_t dispatch_elements(at::ScalarType a, at::ScalarType b, F&& f) {
  return dispatch_element(a, [&](auto ea) { return dispatch_element(b, [&](auto eb) { return f(ea, eb); }); });
}

}  // namespace hetero
