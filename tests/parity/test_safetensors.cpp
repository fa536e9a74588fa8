// The safetensors reader and writer against the format itself: files built
// byte by byte from the spec, headers parsed independently, malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "hetero/run_dir.h"
#include "hetero/safetensors.h"

using hetero::SafeTensor;
using hetero::SafeTensorsError;
using parity_test::TempDir;

namespace {

// A file as the spec lays it out: u64 LE header length, header, data bytes.
void write_raw(const std::string& path, const std::string& header, const std::vector<uint8_t>& data,
               uint64_t declared_len = UINT64_MAX) {
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((n >> (8 * i)) & 0xFF);
  bytes += header;
  bytes.append(data.begin(), data.end());
  parity_test::write_text(path, bytes);
}

std::string error_of(const std::string& path) {
  try {
    hetero::read_safetensors(path);
  } catch (const SafeTensorsError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(SafeTensors, ReadsAFileBuiltByteByByteFromTheSpec) {
  TempDir tmp;
  // F32 [2]: 1.5 = 0x3FC00000, -2 = 0xC0000000
  // BF16 [3]: 1.0 = 0x3F80, -2.5 = 0xC020, 0.15625 = 0x3E20
  // F16 [2, 2]: 1.0 = 0x3C00, -0.5 = 0xB800, 65504 = 0x7BFF, 2^-24 = 0x0001 (subnormal)
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},)"
                             R"("c":{"dtype":"F16","shape":[2,2],"data_offsets":[14,22]},)"
                             R"("__metadata__":{"iter":"7","format":"hetero-embeddings-v1"}})";
  const std::vector<uint8_t> data = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0,   // a
                                     0x80, 0x3F, 0x20, 0xC0, 0x20, 0x3E,               // b
                                     0x00, 0x3C, 0x00, 0xB8, 0xFF, 0x7B, 0x01, 0x00};  // c
  write_raw(tmp / "x.safetensors", header, data);

  const auto f = hetero::read_safetensors(tmp / "x.safetensors");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"iter", "7"}, {"format", "hetero-embeddings-v1"}}));
  const auto& a = f.tensors.at("a");
  EXPECT_EQ(a.dtype, "F32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(a.values, (std::vector<float>{1.5f, -2.0f}));
  const auto& b = f.tensors.at("b");
  EXPECT_EQ(b.dtype, "BF16");
  EXPECT_EQ(b.values, (std::vector<float>{1.0f, -2.5f, 0.15625f}));
  const auto& c = f.tensors.at("c");
  EXPECT_EQ(c.dtype, "F16");
  EXPECT_EQ(c.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(c.values, (std::vector<float>{1.0f, -0.5f, 65504.0f, std::ldexp(1.0f, -24)}));
}

TEST(SafeTensors, WriterFollowsTheSpec) {
  TempDir tmp;
  SafeTensor t;
  t.shape = {2};
  t.values = {1.5f, -2.0f};
  hetero::write_safetensors(tmp / "w.safetensors", {{"v", t}}, {{"k", "v"}});
  const std::string bytes = parity_test::read_text(tmp / "w.safetensors");
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  ASSERT_EQ(bytes.size(), 8 + n + 8);  // header, then exactly 2 floats
  EXPECT_EQ((8 + n) % 8, 0u) << "data should start 8-byte aligned";
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["v"]["dtype"], "F32");
  EXPECT_EQ(header["v"]["shape"], nlohmann::json::array({2}));
  EXPECT_EQ(header["v"]["data_offsets"], nlohmann::json::array({0, 8}));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  const std::string data = bytes.substr(8 + n);
  EXPECT_EQ(data, std::string("\x00\x00\xC0\x3F\x00\x00\x00\xC0", 8));
}

TEST(SafeTensors, RoundTripKeepsNamesShapesValuesAndMetadata) {
  TempDir tmp;
  std::map<std::string, SafeTensor> in;
  in["vision_proj.0"] = parity_test::pattern_tensor(5, 7, 1);
  in["combined_embeddings.10"] = parity_test::pattern_tensor(3, 7, 2);
  in["empty"].shape = {0, 7};
  in["scalar"].shape = {};
  in["scalar"].values = {-3.25f};
  SafeTensor special;
  special.shape = {4};
  special.values = {INFINITY, -0.0f, 1e-40f, std::nanf("")};
  in["special"] = special;
  hetero::write_safetensors(tmp / "r.safetensors", in, {{"iter", "3"}});
  const auto out = hetero::read_safetensors(tmp / "r.safetensors");
  EXPECT_EQ(out.metadata, (std::map<std::string, std::string>{{"iter", "3"}}));
  ASSERT_EQ(out.tensors.size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    const auto& r = out.tensors.at(name);
    EXPECT_EQ(r.dtype, "F32");
    EXPECT_EQ(r.shape, t.shape);
    ASSERT_EQ(r.values.size(), t.values.size());
    EXPECT_EQ(0, std::memcmp(r.values.data(), t.values.data(), 4 * t.values.size())) << "bit-exact";
  }
}

TEST(SafeTensors, HalfPrecisionWritesRoundToNearestEven) {
  TempDir tmp;
  SafeTensor bf, h;
  bf.dtype = "BF16";
  bf.shape = {4};
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is a tie -> 1 (even); 1 + 3*2^-8 is a tie -> 1 + 2^-6 (even)
  bf.values = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 1.0f + 0x1p-8f + 0x1p-12f};
  h.dtype = "F16";
  h.shape = {3};
  // f16 keeps 10 mantissa bits: 1 + 2^-11 is a tie -> 1; 2^-25 + 2^-26 -> 2^-24 (nearest subnormal)
  h.values = {1.0f + 0x1p-11f, 0x1p-25f + 0x1p-26f, 70000.0f};
  hetero::write_safetensors(tmp / "h.safetensors", {{"bf", bf}, {"h", h}});
  const auto f = hetero::read_safetensors(tmp / "h.safetensors");
  EXPECT_EQ(f.tensors.at("bf").dtype, "BF16");
  EXPECT_EQ(f.tensors.at("bf").values, (std::vector<float>{1.0f, 1.0f + 0x1p-6f, -2.5f, 1.0f + 0x1p-7f}));
  EXPECT_EQ(f.tensors.at("h").values, (std::vector<float>{1.0f, 0x1p-24f, INFINITY}));
}

TEST(SafeTensors, MalformedFilesGiveErrorsNamingFileTensorAndReason) {
  TempDir tmp;
  const std::string p = tmp / "bad.safetensors";

  parity_test::write_text(p, "abc");
  EXPECT_NE(error_of(p).find(p), std::string::npos);
  EXPECT_NE(error_of(p).find("shorter than the 8-byte header length"), std::string::npos) << error_of(p);

  write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", {0, 0, 0, 0}, 1000);
  EXPECT_NE(error_of(p).find("header length 1000 exceeds the file size"), std::string::npos) << error_of(p);

  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", {0, 0, 0, 0});
  EXPECT_NE(error_of(p).find("tensor 'a'"), std::string::npos) << error_of(p);
  EXPECT_NE(error_of(p).find("out of range"), std::string::npos) << error_of(p);

  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", {0, 0, 0, 0});
  EXPECT_NE(error_of(p).find("needs 8"), std::string::npos) << error_of(p);

  write_raw(p, R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", {0});
  EXPECT_NE(error_of(p).find("tensor 'w': unknown dtype 'Q4'"), std::string::npos) << error_of(p);

  write_raw(p, R"({"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", {1, 0, 0, 0});
  EXPECT_NE(error_of(p).find("tensor 'i': dtype I32 cannot be read as floats"), std::string::npos) << error_of(p);

  write_raw(p, R"({"a": [1, 2)", {});
  EXPECT_NE(error_of(p).find("header is not valid JSON"), std::string::npos) << error_of(p);

  write_raw(p, R"({"__metadata__":{"n":3}})", {});
  EXPECT_NE(error_of(p).find("__metadata__ value of 'n' is not a string"), std::string::npos) << error_of(p);

  EXPECT_NE(error_of(tmp / "none.safetensors").find("cannot open"), std::string::npos);
}

TEST(SafeTensors, WriterRejectsShapeValueMismatch) {
  TempDir tmp;
  SafeTensor t;
  t.shape = {2, 3};
  t.values = {1, 2, 3};
  try {
    hetero::write_safetensors(tmp / "x.safetensors", {{"t", t}});
    FAIL() << "expected an error";
  } catch (const SafeTensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 't': shape [2, 3] needs 6 values, got 3"), std::string::npos)
        << e.what();
  }
}

TEST(SafeTensors, ReaderReadsSingleTensorsOnDemand) {
  TempDir tmp;
  hetero::write_safetensors(tmp / "x.safetensors",
                            {{"a", parity_test::pattern_tensor(2, 3, 1)}, {"b", parity_test::pattern_tensor(4, 3, 2)}});
  const hetero::SafeTensorReader r(tmp / "x.safetensors");
  EXPECT_EQ(r.tensors().size(), 2u);
  EXPECT_EQ(r.tensors().at("b").shape, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(r.read("b").values, parity_test::pattern_tensor(4, 3, 2).values);
  EXPECT_THROW(r.read("c"), SafeTensorsError);
}

TEST(RunPaths, EmbeddingsFileIsSixDigitIteration) {
  EXPECT_EQ(hetero::RunPaths{"runs/x"}.embeddings_file(1), "runs/x/embeddings/iter-000001.safetensors");
  EXPECT_EQ(hetero::RunPaths{"r"}.embeddings_file(123456), "r/embeddings/iter-123456.safetensors");
}
