// Small real datasets written by the tests themselves: Megatron .bin/.idx
// through write_indexed_dataset, Energon-style shards of JPEG/PNG images
// encoded with libjpeg-turbo and libpng (the reader's own libraries).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image_codec.h"

namespace hetero::test {

// The message of the DataError `f` throws, or "(no DataError)".
template <typename F>
std::string data_error(F f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}

// A fresh, empty directory under the system temp dir.
std::string fresh_data_dir(const std::string& tag);

// Random RGB pixels, a pure function of (size, seed).
RgbImage random_image(int height, int width, std::uint64_t seed);
RgbImage constant_image(int height, int width, std::uint8_t r, std::uint8_t g, std::uint8_t b);

struct ShardSampleSpec {
  std::string key;
  std::vector<std::int64_t> tokens;       // with one image token per image
  std::vector<float> loss_mask;           // empty: none in the json
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> images;  // (extension, bytes)
  std::string raw_json;                   // non-empty: written instead of tokens/loss_mask
};

// DIR/.nv-meta/split.yaml (split train: the given shards) and the tars;
// indexes written with index_shards unless `index` is false.
void write_shard_folder(const std::string& dir, const std::vector<std::vector<ShardSampleSpec>>& shards,
                        bool index = true);

}  // namespace hetero::test
