// Which samples a lane's microbatch holds, and their tensors.
//
// Sample j of iteration i's global batch is s = (i-1)*GBS + j. Lane l owns the
// contiguous slice [l*GBS/lanes, (l+1)*GBS/lanes) and runs it as consecutive
// microbatches of MBS samples: a pure function of the topology.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "data/mock_data.h"
#include "hetero/topology.h"
#include "model/language_model.h"

namespace hetero {

std::vector<std::uint64_t> microbatch_sample_indices(const JobTopology& topo, int iter, int lane, int microbatch);

// Makes mock samples for this job's recipe; every rank gets the same sample
// for the same index.
class MockDataset {
 public:
  MockDataset(const Recipe& recipe) : recipe_(recipe) {}
  MockSample sample(std::uint64_t index, Pixels pixels = Pixels::Make) const;
  std::vector<MockSample> samples(const std::vector<std::uint64_t>& indices, Pixels pixels = Pixels::Make) const;

 private:
  const Recipe& recipe_;
};

TextBatch make_text_batch(const std::vector<MockSample>& samples, at::Device device);
// Images of `samples` in order, flattened across samples.
std::vector<const MockImage*> images_of(const std::vector<MockSample>& samples);
// Loss tokens of the samples (labels that are not image placeholders).
std::int64_t count_loss_tokens(const std::vector<MockSample>& samples);

}  // namespace hetero
