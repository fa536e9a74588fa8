#include "checkpoint/tensor_io.h"

namespace hetero {

SafeTensor to_safetensor(const at::Tensor& t, const std::string& dtype) {
  const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  SafeTensor s;
  s.dtype = dtype;
  s.shape = c.sizes().vec();
  s.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return s;
}

at::Tensor to_tensor(const SafeTensor& t) {
  return at::from_blob(const_cast<float*>(t.values.data()), t.shape, at::kFloat).clone();
}

}  // namespace hetero
