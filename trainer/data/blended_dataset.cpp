#include "data/blended_dataset.h"

#include <atomic>
#include <iostream>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace hetero {
namespace {

constexpr std::uint64_t kBlock = 4096;
std::atomic<std::uint64_t> g_skipped{0}, g_skipped_images{0};

int pick(const std::vector<double>& w, const std::vector<std::uint64_t>& taken, std::uint64_t i) {
  int best = 0;
  double best_err = -1e300;
  for (size_t d = 0; d < w.size(); ++d) {
    const double err = w[d] * static_cast<double>(i + 1) - static_cast<double>(taken[d]);
    if (err > best_err) {
      best_err = err;
      best = static_cast<int>(d);
    }
  }
  return best;
}

}  // namespace

BlendAssignment::BlendAssignment(std::vector<double> weights) : weights_(std::move(weights)) {
  double sum = 0;
  for (size_t d = 0; d < weights_.size(); ++d) {
    if (!(weights_[d] >= 0))
      throw std::invalid_argument("data.blend[" + std::to_string(d) + "].weight=" + std::to_string(weights_[d]) +
                                  " is negative; weights must be 0 or more");
    sum += weights_[d];
  }
  if (weights_.empty() || !(sum > 0))
    throw std::invalid_argument("data.blend weights sum to " + std::to_string(sum) +
                                "; give at least one source a positive weight");
  for (double& w : weights_) w /= sum;
  taken_at_block_.push_back(std::vector<std::uint64_t>(weights_.size(), 0));
}

BlendChoice BlendAssignment::at(std::uint64_t i) const {
  std::vector<std::uint64_t> taken;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    while (taken_at_block_.size() <= i / kBlock) {
      std::vector<std::uint64_t> t = taken_at_block_.back();
      const std::uint64_t first = (taken_at_block_.size() - 1) * kBlock;
      for (std::uint64_t k = first; k < first + kBlock; ++k) ++t[pick(weights_, t, k)];
      taken_at_block_.push_back(std::move(t));
    }
    taken = taken_at_block_[i / kBlock];
  }
  for (std::uint64_t k = i / kBlock * kBlock; k < i; ++k) ++taken[pick(weights_, taken, k)];
  const int d = pick(weights_, taken, i);
  return {d, taken[d]};
}

BlendedDataset::BlendedDataset(std::vector<std::unique_ptr<Dataset>> sources, std::vector<double> weights)
    : sources_(std::move(sources)), assignment_(std::move(weights)) {}

Sample BlendedDataset::sample(std::uint64_t index) const {
  const BlendChoice c = assignment_.at(index);
  return sources_[c.source]->sample(c.index);
}

ImagePixels BlendedDataset::image(std::uint64_t index, int image) const {
  const BlendChoice c = assignment_.at(index);
  return sources_[c.source]->image(c.index, image);
}

std::string BlendedDataset::describe() const {
  std::ostringstream os;
  os << "blend of " << sources_.size() << " sources:";
  for (size_t d = 0; d < sources_.size(); ++d)
    os << "\n  " << assignment_.weights()[d] << "  " << sources_[d]->describe();
  return os.str();
}

std::uint64_t SkippingDataset::skipped_samples() { return g_skipped.load(); }
std::uint64_t SkippingDataset::skipped_images() { return g_skipped_images.load(); }

std::uint64_t SkippingDataset::resolve(std::uint64_t index, Sample* out) const {
  constexpr int kMaxSkips = 64;
  for (int a = 0;; ++a) {
    try {
      *out = inner_->sample(index + a);
      out->skipped_before = a;
      return index + a;
    } catch (const DataError& e) {
      if (!skip_) throw;
      if (a >= kMaxSkips)
        throw DataError(std::string(e.what()) + " (and the " + std::to_string(kMaxSkips) +
                        " samples before it were bad too: fix the data)");
      if (first_time(index + a, -1)) {
        ++g_skipped;
        std::cerr << "data: skipped a bad sample (data.skip_bad_samples; " << g_skipped.load()
                  << " so far in this process): " << e.what() << std::endl;
      }
    }
  }
}

bool SkippingDataset::first_time(std::uint64_t index, int image) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seen_bad_.insert({index, image}).second;
}

Sample SkippingDataset::sample(std::uint64_t index) const {
  Sample s;
  resolve(index, &s);
  return s;
}

ImagePixels SkippingDataset::image(std::uint64_t index, int image) const {
  Sample s;
  const std::uint64_t k = resolve(index, &s);
  try {
    return inner_->image(k, image);
  } catch (const DataError& e) {
    if (!skip_) throw;
    if (first_time(k, image)) {
      ++g_skipped_images;
      std::cerr << "data: replaced an image that does not decode by a black one (data.skip_bad_samples; "
                << g_skipped_images.load() << " so far in this process): " << e.what() << std::endl;
    }
    const ImageMeta& m = s.images.at(image);
    ImagePixels out{m, {}, true};
    out.patches.assign(static_cast<size_t>(m.grid.patches()) * patch_dim_, 0.f);
    return out;
  }
}

}  // namespace hetero
