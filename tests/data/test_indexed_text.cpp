// Megatron indexed text: the reader returns exactly the documents written in
// Megatron's format; GPT windows are deterministic and read every document
// once per epoch; bad files fail with one message naming file and fix.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/dataset.h"
#include "data/gpt_dataset.h"
#include "data/indexed_dataset.h"
#include "data_fixtures.h"
#include "hetero/rng.h"

namespace hetero {
namespace {

using test::fresh_data_dir;

std::vector<std::vector<std::int64_t>> documents(int n, std::int64_t vocab, std::uint64_t seed, int max_len = 40) {
  const CounterRng rng(seed);
  std::uint64_t k = 0;
  std::vector<std::vector<std::int64_t>> docs(n);
  for (auto& d : docs) {
    d.resize(1 + rng.bits(k++) % max_len);
    for (auto& t : d) t = static_cast<std::int64_t>(rng.bits(k++) % vocab);
  }
  return docs;
}

using test::data_error;

TEST(IndexedText, ReadsBackExactlyTheDocumentsWrittenForEveryIntegerDtype) {
  // Codes: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 8 uint16; values within each type.
  for (auto [code, vocab] : std::vector<std::pair<int, std::int64_t>>{{1, 256}, {2, 128}, {3, 30000}, {4, 1 << 30},
                                                                       {5, std::int64_t(1) << 40}, {8, 65536}}) {
    const std::string prefix = fresh_data_dir("idx") + "/text";
    const auto docs = documents(37, vocab, static_cast<std::uint64_t>(code));
    write_indexed_dataset(prefix, docs, code);
    const IndexedDataset d(prefix);
    EXPECT_EQ(d.dtype_code(), code);
    ASSERT_EQ(d.num_documents(), docs.size()) << "dtype " << code;
    for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(d.document(i), docs[i]) << "dtype " << code << " doc " << i;
  }
}

TEST(IndexedText, HeaderIsMegatronsLayout) {
  // Checked byte by byte against the format (not against our reader):
  // magic, version 1, dtype, counts, lengths, pointers in bytes, doc index.
  const std::string prefix = fresh_data_dir("hdr") + "/text";
  write_indexed_dataset(prefix, {{5, 6, 7}, {8, 9}}, 4);
  std::ifstream in(prefix + ".idx", std::ios::binary);
  std::vector<char> b((std::istreambuf_iterator<char>(in)), {});
  ASSERT_EQ(b.size(), 9u + 8 + 1 + 8 + 8 + 2 * 4 + 2 * 8 + 3 * 8);
  EXPECT_EQ(std::string(b.data(), 7), "MMIDIDX");
  EXPECT_EQ(b[7], 0);
  EXPECT_EQ(b[8], 0);
  auto u64 = [&](size_t at) {
    std::uint64_t v;
    std::memcpy(&v, b.data() + at, 8);
    return v;
  };
  auto i32 = [&](size_t at) {
    std::int32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
  };
  EXPECT_EQ(u64(9), 1u);     // version
  EXPECT_EQ(b[17], 4);       // int32
  EXPECT_EQ(u64(18), 2u);    // sequences
  EXPECT_EQ(u64(26), 3u);    // document index entries
  EXPECT_EQ(i32(34), 3);     // lengths
  EXPECT_EQ(i32(38), 2);
  EXPECT_EQ(u64(42), 0u);    // byte pointers
  EXPECT_EQ(u64(50), 12u);
  EXPECT_EQ(u64(58), 0u);    // document index
  EXPECT_EQ(u64(66), 1u);
  EXPECT_EQ(u64(74), 2u);
  EXPECT_EQ(std::filesystem::file_size(prefix + ".bin"), 20u);
}

TEST(IndexedText, BadFilesFailWithTheFileAndTheFix) {
  const std::string dir = fresh_data_dir("bad");
  write_indexed_dataset(dir + "/ok", {{1, 2, 3}, {4, 5}}, 4);
  namespace fs = std::filesystem;
  // Missing .bin, missing .idx.
  fs::copy_file(dir + "/ok.idx", dir + "/nobin.idx");
  fs::copy_file(dir + "/ok.bin", dir + "/noidx.bin");
  std::string m = data_error([&] { IndexedDataset d(dir + "/nobin"); });
  EXPECT_NE(m.find(dir + "/nobin.bin: missing"), std::string::npos) << m;
  EXPECT_NE(m.find("preprocess_data.py"), std::string::npos) << m;
  m = data_error([&] { IndexedDataset d(dir + "/noidx"); });
  EXPECT_NE(m.find(dir + "/noidx.idx: missing"), std::string::npos) << m;

  auto patched = [&](const std::string& name, size_t at, char value) {
    fs::copy_file(dir + "/ok.idx", dir + "/" + name + ".idx");
    fs::copy_file(dir + "/ok.bin", dir + "/" + name + ".bin");
    std::fstream f(dir + "/" + name + ".idx", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(value);
    return dir + "/" + name;
  };
  m = data_error([&] { IndexedDataset d(patched("magic", 0, 'X')); });
  EXPECT_NE(m.find("magic.idx: offset 0"), std::string::npos) << m;
  EXPECT_NE(m.find("MMIDIDX"), std::string::npos) << m;
  m = data_error([&] { IndexedDataset d(patched("version", 9, 2)); });
  EXPECT_NE(m.find("version.idx: offset 9: version 2"), std::string::npos) << m;
  m = data_error([&] { IndexedDataset d(patched("dtype", 17, 9)); });
  EXPECT_NE(m.find("dtype code 9"), std::string::npos) << m;

  // A .bin cut short: the last sequence lies past its end.
  fs::copy_file(dir + "/ok.idx", dir + "/short.idx");
  fs::copy_file(dir + "/ok.bin", dir + "/short.bin");
  fs::resize_file(dir + "/short.bin", 12);
  m = data_error([&] { IndexedDataset d(dir + "/short"); });
  EXPECT_NE(m.find("short.bin: sequence 1 lies at bytes [12, 20)"), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

TextSourceConfig text_config(const std::string& prefix, int seq, std::uint64_t seed = 5) {
  return {prefix, seq, seed, 1000, -1};
}

TEST(GptWindows, CoverEveryDocumentOncePerEpochInAFreshOrder) {
  const std::string prefix = fresh_data_dir("gpt") + "/text";
  const auto docs = documents(23, 1000, 11);
  write_indexed_dataset(prefix, docs, 4);
  const int seq = 16;
  const GptDataset d(text_config(prefix, seq));
  std::int64_t total = 0;
  for (const auto& doc : docs) total += static_cast<std::int64_t>(doc.size());
  // The stream the windows cut: each epoch's documents in its order.
  std::vector<std::int64_t> expected;
  std::vector<std::vector<std::uint64_t>> orders;
  for (std::uint64_t e = 0; e < 3; ++e) {
    orders.push_back(d.epoch_order(e));
    std::set<std::uint64_t> seen(orders.back().begin(), orders.back().end());
    EXPECT_EQ(seen.size(), docs.size()) << "epoch " << e << " is a permutation of the documents";
    for (std::uint64_t i : orders.back()) expected.insert(expected.end(), docs[i].begin(), docs[i].end());
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
  // Windows k cover [k*seq, k*seq + seq + 1) of the stream: reading the
  // inputs of consecutive windows gives the stream back, token for token.
  const std::uint64_t windows = static_cast<std::uint64_t>(2 * total / seq);
  std::vector<std::int64_t> got;
  for (std::uint64_t k = 0; k < windows; ++k) {
    const Sample s = d.sample(k);
    ASSERT_EQ(s.tokens.size(), static_cast<size_t>(seq + 1));
    ASSERT_EQ(s.loss_mask.size(), static_cast<size_t>(seq));
    EXPECT_EQ(s.tokens.back(), expected[(k + 1) * seq]) << "the last label is the next window's first input";
    got.insert(got.end(), s.tokens.begin(), s.tokens.end() - 1);
    EXPECT_EQ(s.starts.front(), 0);
  }
  ASSERT_LE(got.size(), expected.size());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()));
  EXPECT_GE(static_cast<std::int64_t>(got.size()), 2 * total - seq) << "two epochs read, nothing dropped";
}

TEST(GptWindows, AreAPureFunctionOfSeedAndIndex) {
  const std::string prefix = fresh_data_dir("gpt-det") + "/text";
  write_indexed_dataset(prefix, documents(50, 1000, 3), 4);
  const GptDataset a(text_config(prefix, 8)), b(text_config(prefix, 8)), other(text_config(prefix, 8, 99));
  // Asked in another order, by another instance: the same windows.
  for (std::uint64_t k : {400u, 3u, 0u, 177u, 1000u}) EXPECT_EQ(a.sample(k).tokens, b.sample(k).tokens) << k;
  int differ = 0;
  for (std::uint64_t k = 0; k < 20; ++k) differ += a.sample(k).tokens != other.sample(k).tokens;
  EXPECT_GT(differ, 10) << "another seed gives another order";
}

TEST(GptWindows, DocumentStartsAreSampleBoundaries) {
  const std::string prefix = fresh_data_dir("gpt-starts") + "/text";
  const std::vector<std::int64_t> lengths{3, 5, 2};
  write_indexed_dataset(prefix, {{1, 1, 1}, {2, 2, 2, 2, 2}, {3, 3}}, 4);
  const GptDataset d(text_config(prefix, 20));
  // One window holds epoch 0 (10 tokens) and most of epoch 1: a start at
  // every document's first token, from the epochs' orders.
  std::vector<int> expected;
  int at = 0;
  for (std::uint64_t e = 0; e < 2; ++e)
    for (std::uint64_t doc : d.epoch_order(e)) {
      if (at < 20) expected.push_back(at);
      at += static_cast<int>(lengths[doc]);
    }
  EXPECT_EQ(d.sample(0).starts, expected);
}

TEST(GptWindows, TokensOutsideTheVocabularyNameDocumentAndOffset) {
  const std::string prefix = fresh_data_dir("gpt-vocab") + "/text";
  write_indexed_dataset(prefix, {{1, 2, 3, 4000, 5}}, 4);
  const GptDataset d(text_config(prefix, 4));
  const std::string m = data_error([&] { d.sample(0); });
  EXPECT_NE(m.find("text.bin: document 0 token offset 3 holds id 4000, outside the vocabulary [0, 1000)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("data.skip_bad_samples"), std::string::npos) << m;
}

}  // namespace
}  // namespace hetero
