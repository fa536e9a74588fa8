#include "data_fixtures.h"

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "data/webdataset.h"
#include "hetero/rng.h"

namespace fs = std::filesystem;

namespace hetero::test {

std::string fresh_data_dir(const std::string& tag) {
  static int counter = 0;
  const fs::path p = fs::temp_directory_path() /
                     ("hetero-data-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

RgbImage random_image(int height, int width, std::uint64_t seed) {
  const CounterRng rng(seed);
  RgbImage img{height, width, std::vector<std::uint8_t>(static_cast<size_t>(height) * width * 3)};
  for (size_t k = 0; k < img.rgb.size(); ++k) img.rgb[k] = static_cast<std::uint8_t>(rng.bits(k) & 0xff);
  return img;
}

RgbImage constant_image(int height, int width, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  RgbImage img{height, width, {}};
  for (int i = 0; i < height * width; ++i) img.rgb.insert(img.rgb.end(), {r, g, b});
  return img;
}

void write_shard_folder(const std::string& dir, const std::vector<std::vector<ShardSampleSpec>>& shards, bool index) {
  fs::create_directories(dir + "/.nv-meta");
  std::ofstream split(dir + "/.nv-meta/split.yaml");
  split << "split_parts:\n  train:\n";
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = "part_" + std::to_string(s) + ".tar";
    split << "    - " << name << "\n";
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> members;
    for (const ShardSampleSpec& spec : shards[s]) {
      for (size_t i = 0; i < spec.images.size(); ++i)
        members.emplace_back(spec.key + "." + std::to_string(i) + "." + spec.images[i].first, spec.images[i].second);
      std::string json = spec.raw_json;
      if (json.empty()) {
        nlohmann::json j{{"tokens", spec.tokens}};
        if (!spec.loss_mask.empty()) j["loss_mask"] = spec.loss_mask;
        json = j.dump();
      }
      members.emplace_back(spec.key + ".json", std::vector<std::uint8_t>(json.begin(), json.end()));
    }
    write_tar(dir + "/" + name, members);
  }
  split.close();
  if (index) index_shards(dir);
}

}  // namespace hetero::test
