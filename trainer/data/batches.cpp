#include "data/batches.h"

#include <stdexcept>
#include <string>

#include "dist/device_copy.h"

namespace hetero {

TextBatch make_text_batch(const std::vector<Sample>& samples, at::Device device) {
  const int64_t b = static_cast<int64_t>(samples.size());
  const int64_t s = static_cast<int64_t>(samples.front().tokens.size()) - 1;
  // Staged in pinned memory and copied without blocking: a pageable copy
  // waits for the stream, i.e. for the previous microbatch's backward, and
  // the GPU then idles while the host builds this microbatch.
  at::Tensor tokens = host_staging({b, s}, at::kLong, device), labels = host_staging({b, s}, at::kLong, device);
  at::Tensor mask = host_staging({b, s}, at::kFloat, device);
  auto tk = tokens.accessor<int64_t, 2>(), lb = labels.accessor<int64_t, 2>();
  auto mk = mask.accessor<float, 2>();
  TextBatch out;
  for (int64_t i = 0; i < b; ++i) {
    const Sample& x = samples[i];
    if (static_cast<int64_t>(x.tokens.size()) != s + 1 || static_cast<int64_t>(x.loss_mask.size()) != s)
      throw std::logic_error("sample " + std::to_string(i) + " of a microbatch has " + std::to_string(x.tokens.size()) +
                             " tokens and " + std::to_string(x.loss_mask.size()) + " loss-mask values, expected " +
                             std::to_string(s + 1) + " and " + std::to_string(s));
    for (int64_t t = 0; t < s; ++t) {
      tk[i][t] = x.tokens[t];
      lb[i][t] = x.tokens[t + 1];
      mk[i][t] = x.loss_mask[t];
    }
    out.starts.push_back(x.starts);
  }
  out.tokens = copy_to_device(tokens, device);
  out.labels = copy_to_device(labels, device);
  out.loss_mask = copy_to_device(mask, device);
  return out;
}

std::vector<ImageRef> images_of(const std::vector<std::uint64_t>& indices, const std::vector<Sample>& samples) {
  std::vector<ImageRef> out;
  for (size_t k = 0; k < samples.size(); ++k)
    for (int i = 0; i < static_cast<int>(samples[k].images.size()); ++i)
      out.push_back({indices[k], i, samples[k].images[i]});
  return out;
}

std::int64_t count_loss_tokens(const std::vector<Sample>& samples) {
  std::int64_t n = 0;
  for (const auto& s : samples) n += loss_tokens(s);
  return n;
}

}  // namespace hetero
