#include "model/packing.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dist/device_copy.h"

namespace hetero {
namespace {

int64_t longest(const std::vector<int64_t>& cu) {
  int64_t m = 0;
  for (size_t s = 0; s + 1 < cu.size(); ++s) m = std::max(m, cu[s + 1] - cu[s]);
  return m;
}

// All samples the same length: padding is a reshape.
bool uniform(const std::vector<int64_t>& cu) {
  for (size_t s = 0; s + 1 < cu.size(); ++s)
    if (cu[s + 1] - cu[s] != cu[1] - cu[0]) return false;
  return true;
}

std::vector<int64_t> with_leading(int64_t a, int64_t b, at::IntArrayRef rest) {
  std::vector<int64_t> shape{a, b};
  shape.insert(shape.end(), rest.begin(), rest.end());
  return shape;
}

}  // namespace

void check_cu_seqlens(const std::vector<int64_t>& cu, int64_t tokens) {
  if (cu.size() < 2 || cu.front() != 0 || cu.back() != tokens)
    throw std::invalid_argument("cu_seqlens must start at 0 and end at the token count " + std::to_string(tokens));
  for (size_t s = 0; s + 1 < cu.size(); ++s)
    if (cu[s + 1] <= cu[s])
      throw std::invalid_argument("cu_seqlens must increase strictly (sample " + std::to_string(s) + " is empty)");
}

at::Tensor pad_packed(const at::Tensor& x, const std::vector<int64_t>& cu) {
  check_cu_seqlens(cu, x.size(0));
  const int64_t samples = static_cast<int64_t>(cu.size()) - 1, len = longest(cu);
  if (uniform(cu)) return x.reshape(with_leading(samples, len, x.sizes().slice(1)));
  // Row T of the extended input is zero: every padded slot reads it.
  std::vector<int64_t> source(samples * len, x.size(0));
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t i = 0; i < cu[s + 1] - cu[s]; ++i) source[s * len + i] = cu[s] + i;
  std::vector<int64_t> zero_shape = x.sizes().vec();
  zero_shape[0] = 1;
  const at::Tensor extended = at::cat({x, at::zeros(zero_shape, x.options())});
  const at::Tensor idx = copy_to_device(at::tensor(source, at::kLong), x.device());
  return extended.index_select(0, idx).view(with_leading(samples, len, x.sizes().slice(1)));
}

at::Tensor unpad_packed(const at::Tensor& y, const std::vector<int64_t>& cu) {
  const int64_t samples = static_cast<int64_t>(cu.size()) - 1, len = y.size(1);
  check_cu_seqlens(cu, cu.back());
  std::vector<int64_t> flat_shape = y.sizes().vec();
  flat_shape.erase(flat_shape.begin());
  flat_shape[0] = samples * len;
  const at::Tensor flat = y.reshape(flat_shape);
  if (uniform(cu)) return flat;
  std::vector<int64_t> rows;
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t i = 0; i < cu[s + 1] - cu[s]; ++i) rows.push_back(s * len + i);
  return flat.index_select(0, copy_to_device(at::tensor(rows, at::kLong), y.device()));
}

}  // namespace hetero
