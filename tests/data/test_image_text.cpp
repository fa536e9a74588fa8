// Energon-style image-text shards: samples decode to the expected pixels,
// placeholders expand to each image's rows, packing keeps samples whole, and
// bad shards fail with one message naming shard, key and fix.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/image_text_dataset.h"
#include "data/webdataset.h"
#include "data_fixtures.h"

namespace hetero {
namespace {

using test::ShardSampleSpec;

constexpr std::int64_t kImg = 9;  // the image placeholder id of these tests
constexpr int kPatch = 2;

ImageTextSourceConfig config(const std::string& dir, int seq = 64, bool packing = false) {
  ImageTextSourceConfig c;
  c.dir = dir;
  c.seq_length = seq;
  c.seed = 3;
  c.vocab_size = 100;
  c.image_token_id = kImg;
  c.pad_token_id = 0;
  c.packing = packing;
  c.patch_size = kPatch;
  c.min_patches = 4;
  c.max_patches = 24;
  return c;
}

using test::data_error;

// The dataset's sample whose text starts with `first` (epoch order is shuffled).
Sample sample_starting_with(const ImageTextDataset& d, std::int64_t first, std::uint64_t* index = nullptr) {
  for (std::uint64_t k = 0; k < d.epoch_size(); ++k) {
    Sample s = d.sample(k);
    if (s.tokens[0] == first) {
      if (index) *index = k;
      return s;
    }
  }
  ADD_FAILURE() << "no sample starts with " << first;
  return {};
}

// PIL's BILINEAR resample written out directly: output pixel i is the
// weighted mean of input pixels j with weight max(0, 1 - |j + 0.5 - c| / s),
// c = (i + 0.5) * in / out, s = max(1, in / out).
double pil_bilinear(const RgbImage& img, int out_h, int out_w, int y, int x, int ch) {
  auto weights = [](int i, int out, int in) {
    const double scale = double(in) / out, s = std::max(1.0, scale), c = (i + 0.5) * scale;
    std::vector<double> w(in);
    double sum = 0;
    for (int j = 0; j < in; ++j) sum += w[j] = std::max(0.0, 1 - std::fabs(j + 0.5 - c) / s);
    for (double& v : w) v /= sum;
    return w;
  };
  const auto wy = weights(y, out_h, img.height), wx = weights(x, out_w, img.width);
  double acc = 0;
  for (int j = 0; j < img.height; ++j)
    for (int k = 0; k < img.width; ++k) acc += wy[j] * wx[k] * img.rgb[(static_cast<size_t>(j) * img.width + k) * 3 + ch];
  return acc / 255.0;
}

TEST(ImageTextShards, PngDecodesToTheRadioProcessorsResizeOfItsPixels) {
  // One image the budget shrinks (24x18 px) and one it enlarges (5x7 px),
  // each against the filter computed independently.
  for (auto [h, w] : std::vector<std::pair<int, int>>{{24, 18}, {5, 7}}) {
    const PatchGrid grid = choose_patch_grid(h, w, kPatch, 4, 24);
    const RgbImage img = test::random_image(h, w, 17 + h);
    const std::string dir = test::fresh_data_dir("png");
    test::write_shard_folder(dir, {{ShardSampleSpec{"a", {5, kImg, 6}, {}, {{"png", encode_png(img)}}, ""}}});
    const ImageTextDataset d(config(dir));
    const ImagePixels p = d.image(0, 0);
    EXPECT_EQ(p.meta.height_px, h);
    EXPECT_EQ(p.meta.width_px, w);
    ASSERT_EQ(p.patches.size(), static_cast<size_t>(grid.patches()) * 3 * kPatch * kPatch);
    const int out_h = grid.rows * kPatch, out_w = grid.cols * kPatch;
    for (int y = 0; y < out_h; ++y)
      for (int x = 0; x < out_w; ++x)
        for (int c = 0; c < 3; ++c) {
          // Patch (y/p, x/p), channel-major inside: (c, y%p, x%p).
          const size_t at = (static_cast<size_t>(y / kPatch) * grid.cols + x / kPatch) * 3 * kPatch * kPatch +
                            c * kPatch * kPatch + (y % kPatch) * kPatch + x % kPatch;
          ASSERT_NEAR(p.patches[at], pil_bilinear(img, out_h, out_w, y, x, c), 1e-5)
              << h << "x" << w << " y " << y << " x " << x << " c " << c;
        }
  }
}

TEST(ImageTextShards, JpegDecodesToItsColour) {
  const std::string dir = test::fresh_data_dir("jpg");
  const RgbImage img = test::constant_image(10, 14, 200, 40, 90);
  test::write_shard_folder(dir, {{ShardSampleSpec{"a", {5, kImg, 6}, {}, {{"jpg", encode_jpeg(img, 95)}}, ""}}});
  const ImageTextDataset d(config(dir));
  const ImagePixels p = d.image(0, 0);
  const int pp = kPatch * kPatch;
  for (size_t patch = 0; patch < static_cast<size_t>(p.meta.grid.patches()); ++patch)
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < pp; ++k)
        ASSERT_NEAR(p.patches[patch * 3 * pp + c * pp + k], (c == 0 ? 200 : c == 1 ? 40 : 90) / 255.0, 3 / 255.0);
}

TEST(ImageTextShards, PlaceholdersExpandToImageRowsWithoutLoss) {
  const std::string dir = test::fresh_data_dir("expand");
  const auto a = encode_png(test::random_image(8, 12, 1)), b = encode_jpeg(test::random_image(12, 12, 2));
  test::write_shard_folder(dir, {{ShardSampleSpec{"k", {5, kImg, 6, 7, kImg, 8}, {}, {{"png", a}, {"jpeg", b}}, ""}}});
  const ImageTextDataset d(config(dir));
  const Sample s = d.sample(0);
  ASSERT_EQ(s.images.size(), 2u);
  const int r0 = s.images[0].rows(), r1 = s.images[1].rows();
  const PatchGrid g0 = choose_patch_grid(8, 12, kPatch, 4, 24);
  EXPECT_EQ(s.images[0].grid.rows, g0.rows);
  EXPECT_EQ(s.images[0].grid.cols, g0.cols);
  std::vector<std::int64_t> want{5};
  want.insert(want.end(), r0, kImg);
  want.insert(want.end(), {6, 7});
  want.insert(want.end(), r1, kImg);
  want.push_back(8);
  const size_t n = want.size();
  want.resize(65, 0);  // padded to seq_length + 1 with pad_token_id
  EXPECT_EQ(s.tokens, want);
  // Loss on text labels only: not on placeholders, not on padding.
  for (size_t t = 0; t < 64; ++t)
    EXPECT_EQ(s.loss_mask[t], (t + 1 < n && want[t + 1] != kImg) ? 1.f : 0.f) << t;
  // The LLM side reads sizes from the headers; the pixels come separately.
  EXPECT_EQ(d.image(0, 1).meta.grid.patches(), s.images[1].grid.patches());
}

TEST(ImageTextShards, TheJsonLossMaskIsKept) {
  const std::string dir = test::fresh_data_dir("mask");
  test::write_shard_folder(dir, {{ShardSampleSpec{"k", {5, 6, 7, 8}, {0, 0, 1, 1}, {}, ""}}});
  const Sample s = ImageTextDataset(config(dir, 8)).sample(0);
  EXPECT_EQ(s.loss_mask, (std::vector<float>{0, 1, 1, 0, 0, 0, 0, 0}));  // labels 6, 7, 8, then padding
}

TEST(ImageTextShards, PackingKeepsSamplesWholeAndReadsEachOncePerEpoch) {
  const std::string dir = test::fresh_data_dir("pack");
  std::vector<std::vector<ShardSampleSpec>> shards(2);
  const auto png = encode_png(test::random_image(8, 8, 4));  // 4x4 patches: 4 rows
  for (int i = 0; i < 12; ++i) {
    ShardSampleSpec s{"s" + std::to_string(i), {10 + i}, {}, {}, ""};
    for (int k = 0; k < 3 + i % 5; ++k) s.tokens.push_back(50 + k);
    if (i % 3 == 0) {
      s.tokens.push_back(kImg);
      s.images.push_back({"png", png});
    }
    shards[i % 2].push_back(s);
  }
  test::write_shard_folder(dir, shards);
  const int seq = 20;
  const ImageTextDataset d(config(dir, seq, /*packing=*/true));
  std::multiset<std::int64_t> firsts;
  const std::uint64_t rows = d.epoch_size();
  EXPECT_LT(rows, 12u) << "short samples share rows";
  for (std::uint64_t r = 0; r < rows; ++r) {
    const Sample s = d.sample(r);
    ASSERT_EQ(s.tokens.size(), static_cast<size_t>(seq + 1));
    ASSERT_GE(s.starts.size(), 1u);
    for (size_t k = 0; k < s.starts.size(); ++k) {
      const std::int64_t first = s.tokens[s.starts[k]];
      ASSERT_GE(first, 10);
      ASSERT_LT(first, 22);
      firsts.insert(first);
      // The sample runs whole to the next start (or to its end before padding).
      const int end = k + 1 < s.starts.size() ? s.starts[k + 1] : seq + 1;
      const int i = static_cast<int>(first - 10);
      const int len = 1 + 3 + i % 5 + (i % 3 == 0 ? 4 : 0);
      ASSERT_LE(s.starts[k] + len, end) << "sample " << i << " split across rows";
    }
    int placeholder_rows = 0;
    for (auto t : s.tokens) placeholder_rows += t == kImg;
    int image_rows = 0;
    for (const auto& img : s.images) image_rows += img.rows();
    EXPECT_EQ(placeholder_rows, image_rows);
  }
  std::multiset<std::int64_t> each;
  for (int i = 0; i < 12; ++i) each.insert(10 + i);
  EXPECT_EQ(firsts, each) << "every sample once per epoch";
  // The next epoch packs a fresh order, and the dataset is deterministic.
  EXPECT_EQ(d.sample(rows).tokens, ImageTextDataset(config(dir, seq, true)).sample(rows).tokens);
}

// A sample longer than a row fails (packed or not) with its key, never loops.
TEST(ImageTextShards, ASampleLongerThanARowNamesItsKey) {
  const std::string dir = test::fresh_data_dir("long");
  test::write_shard_folder(dir, {{ShardSampleSpec{"short", {5, 6}, {}, {}, ""},
                                  ShardSampleSpec{"long", std::vector<std::int64_t>(30, 7), {}, {}, ""}}});
  for (bool packing : {false, true}) {
    const std::string m = data_error([&] {
      const ImageTextDataset d(config(dir, 16, packing));
      for (std::uint64_t k = 0; k < 4; ++k) d.sample(k);
    });
    EXPECT_NE(m.find("sample 'long' (byte "), std::string::npos) << m;
    EXPECT_NE(m.find("30 tokens with its image rows, more than seq_length + 1 = 17"), std::string::npos) << m;
  }
  // Skipped, the packed rows hold the rest.
  ImageTextSourceConfig c = config(dir, 16, true);
  c.skip_bad_samples = true;
  const ImageTextDataset d(c);
  EXPECT_EQ(d.epoch_size(), 1u);
  EXPECT_EQ(d.sample(0).tokens[0], 5);
  EXPECT_EQ(d.left_out(), 1u);
}

TEST(ImageTextShards, BadShardsNameTheFileTheKeyAndTheFix) {
  namespace fs = std::filesystem;
  const auto png = encode_png(test::random_image(8, 8, 4));
  {  // A shard that split.yaml names is missing.
    const std::string dir = test::fresh_data_dir("bad-missing");
    test::write_shard_folder(dir, {{ShardSampleSpec{"a", {5}, {}, {}, ""}}});
    std::ofstream(dir + "/.nv-meta/split.yaml", std::ios::app) << "    - gone.tar\n";
    const std::string m = data_error([&] { ImageTextDataset d(config(dir)); });
    EXPECT_NE(m.find(dir + "/gone.tar: missing, but " + dir + "/.nv-meta/split.yaml lists it"), std::string::npos) << m;
  }
  {  // A .tar.idx that does not match its tar: written for another shard.
    const std::string dir = test::fresh_data_dir("bad-idx");
    test::write_shard_folder(dir, {{ShardSampleSpec{"a", {5}, {}, {{"png", png}}, ""}, ShardSampleSpec{"b", {6}, {}, {}, ""}},
                                   {ShardSampleSpec{"c", {7}, {}, {}, ""}}});
    fs::remove(dir + "/.nv-meta/.info.json");  // so only the offsets can tell
    fs::copy_file(dir + "/part_0.tar.idx", dir + "/part_1.tar.idx", fs::copy_options::overwrite_existing);
    const std::string m = data_error([&] {
      ImageTextDataset d(config(dir));
      for (std::uint64_t k = 0; k < d.epoch_size(); ++k) d.sample(k);
    });
    EXPECT_NE(m.find("part_1.tar"), std::string::npos) << m;
    EXPECT_NE(m.find("does not match its tar"), std::string::npos) << m;
    EXPECT_NE(m.find("hetero-data index"), std::string::npos) << m;
  }
  {  // Counts in .info.json disagree with the index.
    const std::string dir = test::fresh_data_dir("bad-count");
    test::write_shard_folder(dir, {{ShardSampleSpec{"a", {5}, {}, {}, ""}, ShardSampleSpec{"b", {6}, {}, {}, ""}}});
    std::ofstream(dir + "/.nv-meta/.info.json") << R"({"shard_counts": {"part_0.tar": 3}})";
    const std::string m = data_error([&] { ImageTextDataset d(config(dir)); });
    EXPECT_NE(m.find("part_0.tar.idx: indexes 2 samples but .nv-meta/.info gives shard_counts[part_0.tar]=3"),
              std::string::npos) << m;
  }
  const std::string dir = test::fresh_data_dir("bad-samples");
  std::vector<std::uint8_t> broken = encode_jpeg(test::random_image(64, 64, 5));
  broken.resize(broken.size() * 2 / 3);  // the header survives, the scan data does not
  test::write_shard_folder(dir, {{ShardSampleSpec{"good", {5, kImg}, {}, {{"png", png}}, ""},
                                  ShardSampleSpec{"broken", {5, kImg}, {}, {{"jpg", broken}}, ""},
                                  ShardSampleSpec{"count", {5, kImg, kImg}, {}, {{"png", png}}, ""},
                                  ShardSampleSpec{"vocab", {5, 100}, {}, {}, ""}}});
  const ImageTextDataset d(config(dir));
  std::map<std::string, std::string> messages;
  for (std::uint64_t k = 0; k < d.epoch_size(); ++k) {
    const std::string m = data_error([&] {
      const Sample s = d.sample(k);
      for (int i = 0; i < static_cast<int>(s.images.size()); ++i) d.image(k, i);
    });
    for (const char* key : {"good", "broken", "count", "vocab"})
      if (m.find(std::string("sample '") + key + "'") != std::string::npos) messages[key] = m;
  }
  EXPECT_EQ(messages.count("good"), 0u);
  EXPECT_NE(messages["broken"].find("part_0.tar: sample 'broken' (byte "), std::string::npos) << messages["broken"];
  EXPECT_NE(messages["broken"].find("JPEG does not decode"), std::string::npos) << messages["broken"];
  EXPECT_NE(messages["count"].find("2 image placeholders (data.image_token_id=9) but 1 images"), std::string::npos)
      << messages["count"];
  EXPECT_NE(messages["vocab"].find("token id 100 is outside the vocabulary [0, 100)"), std::string::npos)
      << messages["vocab"];
}

// The tool: index writes what is missing, verify lists the bad samples by shard and key.
TEST(HeteroDataTool, IndexThenVerifyReportsBadSamplesByShardAndKey) {
  const std::string dir = test::fresh_data_dir("tool");
  std::vector<std::uint8_t> broken = encode_png(test::random_image(16, 16, 5));
  broken.resize(broken.size() / 2);
  test::write_shard_folder(dir, {{ShardSampleSpec{"fine", {5, kImg}, {}, {{"png", encode_png(test::random_image(8, 8, 1))}}, ""},
                                  ShardSampleSpec{"cut", {5, kImg}, {}, {{"png", broken}}, ""}}},
                           /*index=*/false);
  const std::string bin = std::string(HETERO_BIN_DIR) + "/hetero-data";
  auto run = [](const std::string& cmd, std::string* out) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    out->clear();
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
    return WEXITSTATUS(pclose(p));
  };
  std::string out;
  EXPECT_EQ(run(bin + " index " + dir, &out), 0) << out;
  EXPECT_NE(out.find("wrote " + dir + "/part_0.tar.idx (2 samples)"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(dir + "/.nv-meta/.info.json"));
  EXPECT_EQ(run(bin + " index " + dir, &out), 0) << out;
  EXPECT_NE(out.find("nothing written"), std::string::npos) << out;
  EXPECT_EQ(run(bin + " verify " + dir + " --image-token-id 9", &out), 1) << out;
  EXPECT_NE(out.find("bad: " + dir + "/part_0.tar: sample 'cut'"), std::string::npos) << out;
  EXPECT_EQ(out.find("sample 'fine'"), std::string::npos) << out;
  EXPECT_NE(out.find("2 samples, 1 images decoded, 1 bad"), std::string::npos) << out;
  EXPECT_EQ(run(bin + " inspect " + dir + " --sample 0", &out), 0) << out;
  EXPECT_NE(out.find("2 samples in 1 shards"), std::string::npos) << out;
  EXPECT_NE(out.find("key 'fine'"), std::string::npos) << out;
}

}  // namespace
}  // namespace hetero
