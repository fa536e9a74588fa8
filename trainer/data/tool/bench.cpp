// hetero-data-bench: the loader's CPU costs, per core.
//   images: JPEGs of --px pixels (longer side) decoded and resized to the
//           patch grid choose_patch_grid gives with the 20L/54L recipes'
//           budget (patch 16, 256..2048 patches), cut into patches; images/s
//           on one thread = per core.
//   text:   GPT windows of --seq + 1 tokens read from a Megatron indexed
//           dataset written to a temporary folder; tokens/s on one thread.
#include <chrono>
#include <ctime>
#include <filesystem>

#include <unistd.h>
#include <iostream>

#include <boost/program_options.hpp>

#include "data/gpt_dataset.h"
#include "data/image_codec.h"
#include "data/indexed_dataset.h"
#include "hetero/cli.h"
#include "hetero/rng.h"
#include "synthetic_image.h"


namespace po = boost::program_options;
using namespace hetero;

int main(int argc, char** argv) {
  int px = 1024, images = 200, seq = 8192, patch = 16, min_patches = 256, max_patches = 2048;
  std::int64_t tokens = 50'000'000;
  po::options_description desc("hetero-data-bench");
  desc.add_options()("px", po::value(&px), "JPEG longer side (default 1024)")(
      "images", po::value(&images), "images to decode (default 200)")(
      "tokens", po::value(&tokens), "tokens in the indexed dataset (default 50M)")(
      "seq", po::value(&seq), "seq_length of the windows (default 8192)");
  try {
    if (!parse_command_line(argc, argv, desc, "hetero-data-bench")) return 0;
  } catch (const std::exception& e) {
    std::cerr << "hetero-data-bench: " << e.what() << "\n";
    return 2;
  }
  // CPU time of this thread: "per core" even on a machine shared with other work.
  struct clock {
    using time_point = double;
    static double now() {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + 1e-9 * ts.tv_nsec;
    }
  };
  auto secs = [](double a) { return clock::now() - a; };
  const auto wall0 = std::chrono::steady_clock::now();

  // Eight distinct photographs-like JPEGs, landscape 4:3.
  std::vector<std::vector<std::uint8_t>> jpegs;
  for (int k = 0; k < 8; ++k) jpegs.push_back(encode_jpeg(data_tool::synthetic_image(px * 3 / 4, px, k), 90));
  int h = 0, w = 0;
  image_size(jpegs[0].data(), jpegs[0].size(), ImageFormat::Jpeg, &h, &w);
  const PatchGrid grid = choose_patch_grid(h, w, patch, min_patches, max_patches);
  double sink = 0, decode_s = 0;
  const auto t0 = clock::now();
  for (int i = 0; i < images; ++i) {
    const auto& j = jpegs[i % jpegs.size()];
    const auto td = clock::now();
    const RgbImage img = decode_image(j.data(), j.size(), ImageFormat::Jpeg);
    decode_s += secs(td);
    sink += resize_to_patches(img, grid, patch)[0];
  }
  const double img_s = secs(t0);
  std::cout << "images: " << images << " JPEGs " << w << "x" << h << " (" << jpegs[0].size() / 1024
            << " KiB each) -> grid " << grid.rows << "x" << grid.cols << " patches of " << patch << " px\n"
            << "images: " << images / img_s << " images/s per core (decode " << 1e3 * decode_s / images
            << " ms + resize/patches " << 1e3 * (img_s - decode_s) / images << " ms per image)\n";

  const std::string dir = (std::filesystem::temp_directory_path() / ("hetero-data-bench-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  {
    const CounterRng rng(7);
    std::vector<std::vector<std::int64_t>> docs;
    std::int64_t written = 0;
    std::uint64_t draw = 0;
    while (written < tokens) {
      docs.emplace_back(500 + rng.bits(draw++) % 4000);
      for (auto& t : docs.back()) t = static_cast<std::int64_t>(rng.bits(draw++) % 131072);
      written += static_cast<std::int64_t>(docs.back().size());
    }
    write_indexed_dataset(dir + "/text", docs, 4);
  }
  const GptDataset text(TextSourceConfig{dir + "/text", seq, 1, 131072, -1});
  const std::uint64_t windows = text.epoch_size();
  text.sample(0);  // builds the epoch's order outside the timing
  const auto t1 = clock::now();
  std::int64_t read = 0;
  for (std::uint64_t k = 0; k < windows; ++k) read += static_cast<std::int64_t>(text.sample(k).tokens.size()) - 1;
  const double text_s = secs(t1);
  std::cout << "text: " << windows << " windows of " << seq + 1 << " tokens from " << read / 1e6
            << "M tokens (int32, memory-mapped): " << read / text_s / 1e6 << "M tokens/s per core\n";
  std::cout << "(thread CPU time; wall time of the whole run "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count() << " s)\n";
  std::filesystem::remove_all(dir);
  return sink == 12345.678 ? 1 : 0;
}
