// generate (commands.h): a text prefix and JPEG image-text shards for a test
// run, written with the same libraries the reader uses.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "synthetic_image.h"
#include "data/image_codec.h"
#include "data/indexed_dataset.h"
#include "data/webdataset.h"
#include "hetero/rng.h"

namespace fs = std::filesystem;

namespace hetero::data_tool {

int generate(const GenerateOptions& o) {
  if (fs::exists(o.out)) throw std::runtime_error(o.out + " exists; give a new folder to generate into");
  fs::create_directories(o.out + "/text");
  fs::create_directories(o.out + "/vlm/.nv-meta");
  const CounterRng rng(o.seed);
  std::uint64_t draw = 0;
  auto token = [&] {
    std::int64_t t;
    do t = 1 + static_cast<std::int64_t>(rng.bits(draw++) % static_cast<std::uint64_t>(o.vocab_size - 1));
    while (t == o.image_token_id);
    return t;
  };
  const std::int64_t eod = 2;
  std::vector<std::vector<std::int64_t>> docs(o.documents);
  for (auto& d : docs) {
    const int len = 50 + static_cast<int>(rng.bits(draw++) % 2000);
    for (int k = 0; k < len; ++k) d.push_back(token());
    d.push_back(eod);
  }
  write_indexed_dataset(o.out + "/text/documents", docs, o.vocab_size < 65536 ? 8 : 4);

  std::ofstream split(o.out + "/vlm/.nv-meta/split.yaml");
  split << "split_parts:\n  train:\n";
  const int per_shard = (o.images + o.shards - 1) / o.shards;
  for (int s = 0; s < o.shards; ++s) {
    char name[32];
    std::snprintf(name, sizeof(name), "shard_%03d.tar", s);
    split << "    - " << name << "\n";
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> members;
    for (int i = s * per_shard; i < std::min(o.images, (s + 1) * per_shard); ++i) {
      char key[32];
      std::snprintf(key, sizeof(key), "%08d", i);
      // Landscape, portrait and square, the longer side image_px.
      const int kind = i % 3, other = o.image_px * 3 / 4;
      const int h = kind == 1 ? o.image_px : kind == 0 ? other : o.image_px;
      const int w = kind == 0 ? o.image_px : kind == 1 ? other : o.image_px;
      members.emplace_back(std::string(key) + ".jpg", encode_jpeg(synthetic_image(h, w, mix(o.seed, i))));
      std::vector<std::int64_t> tokens{token(), o.image_token_id};
      const int len = 20 + static_cast<int>(rng.bits(draw++) % 200);
      for (int k = 0; k < len; ++k) tokens.push_back(token());
      tokens.push_back(eod);
      const std::string json = nlohmann::json{{"tokens", tokens}}.dump();
      members.emplace_back(std::string(key) + ".json", std::vector<std::uint8_t>(json.begin(), json.end()));
    }
    write_tar(o.out + "/vlm/" + name, members);
  }
  split.close();
  for (const auto& line : index_shards(o.out + "/vlm")) std::cout << line << "\n";
  std::cout << "wrote " << o.out << "/text/documents.{bin,idx} (" << o.documents << " documents) and " << o.out
            << "/vlm (" << o.images << " image-text samples, " << o.image_px << "-px JPEGs)\n";
  return 0;
}

}  // namespace hetero::data_tool
