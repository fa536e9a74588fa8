#include "data/batches.h"

namespace hetero {

std::vector<std::uint64_t> microbatch_sample_indices(const JobTopology& topo, int iter, int lane, int microbatch) {
  std::vector<std::uint64_t> out;
  const std::uint64_t first = static_cast<std::uint64_t>(iter - 1) * topo.global_batch_size +
                              static_cast<std::uint64_t>(lane) * topo.samples_per_lane() +
                              static_cast<std::uint64_t>(microbatch) * topo.micro_batch_size;
  for (int k = 0; k < topo.micro_batch_size; ++k) out.push_back(first + k);
  return out;
}

MockSample MockDataset::sample(std::uint64_t index, Pixels pixels) const {
  return make_mock_sample(recipe_.data, recipe_.llm, recipe_.encoder, index, pixels);
}

std::vector<MockSample> MockDataset::samples(const std::vector<std::uint64_t>& indices, Pixels pixels) const {
  std::vector<MockSample> out;
  out.reserve(indices.size());
  for (auto i : indices) out.push_back(sample(i, pixels));
  return out;
}

TextBatch make_text_batch(const std::vector<MockSample>& samples, at::Device device) {
  const int64_t b = static_cast<int64_t>(samples.size());
  const int64_t s = static_cast<int64_t>(samples.front().tokens.size()) - 1;
  at::Tensor tokens = at::empty({b, s}, at::kLong), labels = at::empty({b, s}, at::kLong);
  at::Tensor mask = at::empty({b, s}, at::kFloat);
  auto tk = tokens.accessor<int64_t, 2>(), lb = labels.accessor<int64_t, 2>();
  auto mk = mask.accessor<float, 2>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t t = 0; t < s; ++t) {
      tk[i][t] = samples[i].tokens[t];
      lb[i][t] = samples[i].tokens[t + 1];
      mk[i][t] = samples[i].tokens[t + 1] == kImagePlaceholder ? 0.f : 1.f;
    }
  return {tokens.to(device), labels.to(device), mask.to(device)};
}

std::vector<const MockImage*> images_of(const std::vector<MockSample>& samples) {
  std::vector<const MockImage*> out;
  for (const auto& s : samples)
    for (const auto& img : s.images) out.push_back(&img);
  return out;
}

std::int64_t count_loss_tokens(const std::vector<MockSample>& samples) {
  std::int64_t n = 0;
  for (const auto& s : samples)
    for (size_t t = 1; t < s.tokens.size(); ++t) n += s.tokens[t] != kImagePlaceholder;
  return n;
}

}  // namespace hetero
