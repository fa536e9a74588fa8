// The subcommands of hetero-data (data_main.cpp parses the command line).
#pragma once

#include <cstdint>
#include <string>

#include "hetero/recipe.h"

namespace hetero::data_tool {

// Counts, token and image-size statistics, and one sample's tokens and image sizes.
int inspect(const std::string& path, std::int64_t sample);
// Writes the missing .tar.idx and .info.json of a shard folder.
int index(const std::string& dir);
// Reads every sample of every split, decodes every image; reports bad samples
// by shard and key. Exit status 1 when any is bad.
int verify(const std::string& dir, std::int64_t image_token_id, const Recipe* recipe);
// Which source each of the first `count` global samples comes from, and the shares.
int blend(const Recipe& recipe, int count);
// A blend to train on: text documents as PREFIX.bin/.idx under OUT/text and
// image-text shards with JPEGs under OUT/vlm.
struct GenerateOptions {
  std::string out;
  int documents = 2000, images = 400, image_px = 1024, shards = 4;
  std::int64_t vocab_size = 131072, image_token_id = 10;
  std::uint64_t seed = 1;
};
int generate(const GenerateOptions& options);

}  // namespace hetero::data_tool
