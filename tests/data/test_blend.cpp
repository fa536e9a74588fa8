// Blends: each global sample maps deterministically to (source, index in
// source); the proportions follow the weights; bad weights are refused; a
// source's kind is told by its files; bad samples are skipped only when asked.
#include <gtest/gtest.h>

#include "data/blended_dataset.h"
#include "data/make_dataset.h"
#include "data/indexed_dataset.h"
#include "data_fixtures.h"
#include "hetero/errors.h"

namespace hetero {
namespace {

TEST(Blend, ProportionsAreWithinOnePercentOver10000Samples) {
  for (const std::vector<double>& w : {std::vector<double>{0.9, 0.1}, {0.5, 0.3, 0.2}, {3, 1}}) {
    const BlendAssignment a(w);
    std::vector<int> taken(w.size(), 0);
    double sum = 0;
    for (double x : w) sum += x;
    for (std::uint64_t i = 0; i < 10000; ++i) {
      const BlendChoice c = a.at(i);
      EXPECT_EQ(c.index, static_cast<std::uint64_t>(taken[c.source])) << "each source's samples are taken in order";
      ++taken[c.source];
    }
    for (size_t d = 0; d < w.size(); ++d) EXPECT_NEAR(taken[d] / 10000.0, w[d] / sum, 0.01) << "source " << d;
  }
}

TEST(Blend, AnyIndexIsReachedWithoutReadingTheOnesBefore) {
  const BlendAssignment a({0.7, 0.2, 0.1}), fresh({0.7, 0.2, 0.1});
  std::vector<BlendChoice> forward;
  for (std::uint64_t i = 0; i < 20000; ++i) forward.push_back(a.at(i));
  // Another instance asked first for a late index, then in reverse.
  for (std::uint64_t i : {19999u, 12288u, 4095u, 4096u, 0u, 7u}) {
    EXPECT_EQ(fresh.at(i).source, forward[i].source) << i;
    EXPECT_EQ(fresh.at(i).index, forward[i].index) << i;
  }
}

TEST(Blend, NegativeOrZeroWeightsAreRefused) {
  EXPECT_THROW(BlendAssignment({0.5, -0.1}), std::invalid_argument);
  EXPECT_THROW(BlendAssignment({0.0, 0.0}), std::invalid_argument);
  // The recipe rejects them first, naming the key.
  try {
    load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l", "tiny",
                {"data.blend=[{path: /a, weight: -1}, {path: /b, weight: 0}]"});
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    std::string all;
    for (const auto& p : e.problems()) all += p + "\n";
    EXPECT_NE(all.find("data.blend[0].weight=-1 (/a) must be 0 or more"), std::string::npos) << all;
    EXPECT_NE(all.find("data.blend weights sum to -1"), std::string::npos) << all;
  }
}

TEST(Blend, TheKindOfASourceIsToldByItsFiles) {
  const std::string dir = test::fresh_data_dir("kind");
  write_indexed_dataset(dir + "/text", {{1, 2}}, 4);
  test::write_shard_folder(dir + "/vlm", {{test::ShardSampleSpec{"a", {5}, {}, {}, ""}}});
  EXPECT_EQ(source_kind(dir + "/text"), SourceKind::IndexedText);
  EXPECT_EQ(source_kind(dir + "/vlm"), SourceKind::ImageTextShards);
  try {
    source_kind(dir + "/nothing");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/nothing: neither a Megatron indexed dataset"), std::string::npos);
  }
}

// A source whose odd samples are bad.
class OddBad : public Dataset {
 public:
  Sample sample(std::uint64_t i) const override {
    if (i % 2) throw DataError("sample " + std::to_string(i) + " is bad");
    Sample s;
    s.tokens = {static_cast<std::int64_t>(i)};
    s.images = {ImageMeta{4, 4, {2, 2}}};
    return s;
  }
  ImagePixels image(std::uint64_t i, int) const override {
    if (i == 4) throw DataError("image of sample 4 does not decode");
    return {ImageMeta{4, 4, {2, 2}}, std::vector<float>(4 * 12, 1.f)};
  }
  std::string describe() const override { return "odd-bad"; }
};

TEST(SkipBadSamples, OffTheErrorPropagates_OnTheNextGoodSampleStandsInAndIsCounted) {
  const SkippingDataset strict(std::make_unique<OddBad>(), false, 12);
  EXPECT_THROW(strict.sample(3), DataError);
  const SkippingDataset lenient(std::make_unique<OddBad>(), true, 12);
  const std::uint64_t before = SkippingDataset::skipped_samples(), images = SkippingDataset::skipped_images();
  EXPECT_EQ(lenient.sample(3).tokens, std::vector<std::int64_t>{4});
  EXPECT_EQ(lenient.sample(2).tokens, std::vector<std::int64_t>{2});
  EXPECT_EQ(SkippingDataset::skipped_samples(), before + 1);
  // An image that does not decode becomes black; its size stays, so the text side agrees.
  const ImagePixels black = lenient.image(3, 0);
  EXPECT_EQ(black.patches, std::vector<float>(4 * 12, 0.f));
  EXPECT_EQ(SkippingDataset::skipped_samples(), before + 1);  // sample 3 is counted once
  EXPECT_EQ(SkippingDataset::skipped_images(), images + 1);
}

}  // namespace
}  // namespace hetero
