#include "model/ssd_x.h"

#include <c10/util/Exception.h>

namespace hetero {

void check_ssd_x(const at::Tensor& x, const std::string& op) {
  TORCH_CHECK(x.dim() == 4 || x.dim() == 5, op, ": x must be [b, l, h, p] or chunked [b, c, q, h, p], got ",
              x.sizes());
}

int64_t ssd_x_length(const at::Tensor& x) { return x.dim() == 5 ? x.size(1) * x.size(2) : x.size(1); }

int64_t ssd_x_heads(const at::Tensor& x) { return x.size(-2); }

bool ssd_x_fits_chunks(const at::Tensor& x, int64_t chunks, int64_t chunk) {
  return x.dim() == 4 || (x.size(1) == chunks && x.size(2) == chunk);
}

SsdXStrides ssd_x_strides(const at::Tensor& x, int64_t chunk) {
  SsdXStrides s;
  s.batch = x.stride(0);
  s.head = x.stride(-2);
  if (x.dim() == 5) {
    s.chunk = x.stride(1);
    s.step = x.stride(2);
  } else {
    s.step = x.stride(1);
    s.chunk = chunk * s.step;
  }
  return s;
}

at::Tensor ssd_x_gradient_buffer(const at::Tensor& x, const at::TensorOptions& options) {
  if (x.is_non_overlapping_and_dense()) return at::empty_strided(x.sizes(), x.strides(), options);
  return at::empty(x.sizes(), options);
}

}  // namespace hetero
