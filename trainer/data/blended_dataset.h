// A blend of sources by weight, as Megatron's blended dataset builds it:
// global sample i goes to the source whose share is furthest behind its
// weight, argmax_d (w_d * (i + 1) - taken_d) (ties to the first source), and
// is that source's next sample. The assignment is a pure function of the
// weights and i; it is computed forward once and remembered every 4096
// samples, so any index (a resumed start) is cheap to reach.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "data/dataset.h"

namespace hetero {

struct BlendChoice {
  int source;
  std::uint64_t index;  // in that source
};

class BlendAssignment {
 public:
  // Throws std::invalid_argument for negative weights or a zero sum.
  explicit BlendAssignment(std::vector<double> weights);
  BlendChoice at(std::uint64_t i) const;
  const std::vector<double>& weights() const { return weights_; }

 private:
  std::vector<double> weights_;  // normalised
  mutable std::mutex mutex_;
  mutable std::vector<std::vector<std::uint64_t>> taken_at_block_;  // taken_d before sample k * kBlock
};

class BlendedDataset : public Dataset {
 public:
  BlendedDataset(std::vector<std::unique_ptr<Dataset>> sources, std::vector<double> weights);
  Sample sample(std::uint64_t index) const override;
  ImagePixels image(std::uint64_t index, int image) const override;
  std::string describe() const override;
  BlendChoice choice(std::uint64_t index) const { return assignment_.at(index); }
  const Dataset& source(int d) const { return *sources_[d]; }
  int num_sources() const { return static_cast<int>(sources_.size()); }

 private:
  std::vector<std::unique_ptr<Dataset>> sources_;
  BlendAssignment assignment_;
};

// Wraps a source so that, with data.skip_bad_samples, a sample that fails
// to read is replaced by the next good one of the same source (the same on
// every rank), and an image that fails to decode by a black one (pixels are
// decoded only where the encoder runs, so the text side must not change);
// each is logged and counted. Without it, the DataError propagates.
class SkippingDataset : public Dataset {
 public:
  // patch_dim: values per patch of the images (3 * patch * patch).
  SkippingDataset(std::unique_ptr<Dataset> inner, bool skip, int patch_dim)
      : inner_(std::move(inner)), skip_(skip), patch_dim_(patch_dim) {}
  Sample sample(std::uint64_t index) const override;
  ImagePixels image(std::uint64_t index, int image) const override;
  std::uint64_t epoch_size() const override { return inner_->epoch_size(); }
  std::string describe() const override { return inner_->describe(); }
  const Dataset& inner() const { return *inner_; }
  // Bad samples (text side) and bad images (pixels) this process skipped.
  static std::uint64_t skipped_samples();
  static std::uint64_t skipped_images();

 private:
  std::uint64_t resolve(std::uint64_t index, Sample* out) const;
  // Counts and logs each bad sample or image once, however often it is asked for.
  bool first_time(std::uint64_t index, int image) const;
  std::unique_ptr<Dataset> inner_;
  mutable std::mutex mutex_;
  mutable std::set<std::pair<std::uint64_t, int>> seen_bad_;  // (sample, -1) or (sample, image)
  bool skip_;
  int patch_dim_;
};

}  // namespace hetero
