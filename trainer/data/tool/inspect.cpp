// inspect, index, verify and blend (commands.h).
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>

#include "commands.h"
#include "data/blended_dataset.h"
#include "data/image_codec.h"
#include "data/image_text_dataset.h"
#include "data/indexed_dataset.h"
#include "data/make_dataset.h"
#include "data/webdataset.h"

namespace hetero::data_tool {
namespace {

struct Stats {
  std::int64_t n = 0, min = 0, max = 0;
  double sum = 0;
  void add(std::int64_t v) {
    min = n == 0 ? v : std::min(min, v);
    max = n == 0 ? v : std::max(max, v);
    sum += static_cast<double>(v);
    ++n;
  }
  std::string text() const {
    if (n == 0) return "none";
    std::ostringstream os;
    os << "min " << min << ", mean " << std::fixed << std::setprecision(1) << sum / n << ", max " << max;
    return os.str();
  }
};

void print_tokens(const std::vector<std::int64_t>& t) {
  std::cout << "  tokens (" << t.size() << "):";
  for (size_t i = 0; i < t.size() && i < 64; ++i) std::cout << " " << t[i];
  if (t.size() > 64) std::cout << " ...";
  std::cout << "\n";
}

// An image-text source read without a recipe: every id counts as in the
// vocabulary, no placeholder is expanded and no sample is too long.
ImageTextSourceConfig raw_config(const std::string& dir, const std::string& split, std::int64_t image_token_id) {
  ImageTextSourceConfig c;
  c.dir = dir;
  c.split = split;
  c.seq_length = std::numeric_limits<int>::max() - 1;
  c.vocab_size = std::numeric_limits<std::int64_t>::max();
  c.image_token_id = image_token_id;
  c.patch_size = 16;
  c.min_patches = 4;
  c.max_patches = 1 << 20;
  return c;
}

int inspect_text(const std::string& prefix, std::int64_t sample) {
  const IndexedDataset d(prefix);
  Stats len;
  for (std::uint64_t i = 0; i < d.num_documents(); ++i) len.add(d.document_length(i));
  std::cout << prefix << ": Megatron indexed text, dtype code " << d.dtype_code() << ", " << d.num_documents()
            << " documents, " << d.num_sequences() << " sequences, " << d.total_tokens() << " tokens\n"
            << "  document length: " << len.text() << "\n";
  if (sample >= 0) {
    if (static_cast<std::uint64_t>(sample) >= d.num_documents())
      throw DataError(prefix + ": --sample " + std::to_string(sample) + " but the dataset has " +
                      std::to_string(d.num_documents()) + " documents");
    std::cout << "document " << sample << ":\n";
    print_tokens(d.document(static_cast<std::uint64_t>(sample)));
  }
  return 0;
}

int inspect_shards(const std::string& dir, std::int64_t sample) {
  for (const std::string& split : {std::string("train"), std::string("val"), std::string("test")}) {
    std::vector<std::string> names;
    try {
      names = split_shards(dir, split);
    } catch (const DataError&) {
      continue;
    }
    const ShardSet shards(dir, split);
    Stats members, images, heights, widths, json_bytes;
    for (std::uint64_t g = 0; g < shards.size(); ++g) {
      const ShardSample s = shards.sample(g);
      members.add(static_cast<std::int64_t>(s.members.size()));
      int n_images = 0;
      for (const TarMember& m : s.members) {
        const size_t dot = m.extension.rfind('.');
        ImageFormat f;
        if (image_format_of_extension(dot == std::string::npos ? m.extension : m.extension.substr(dot + 1), &f)) {
          int h = 0, w = 0;
          image_size(s.tar + m.offset, m.size, f, &h, &w);
          heights.add(h);
          widths.add(w);
          ++n_images;
        } else if (m.extension == "json") {
          json_bytes.add(static_cast<std::int64_t>(m.size));
        }
      }
      images.add(n_images);
    }
    std::cout << dir << ": Energon image-text shards, split " << split << ": " << shards.size() << " samples in "
              << names.size() << " shards\n"
              << "  images per sample: " << images.text() << "\n  image height px: " << heights.text()
              << "\n  image width px: " << widths.text() << "\n  json bytes: " << json_bytes.text() << "\n";
    if (sample >= 0 && split == "train") {
      if (static_cast<std::uint64_t>(sample) >= shards.size())
        throw DataError(dir + ": --sample " + std::to_string(sample) + " but split train has " +
                        std::to_string(shards.size()) + " samples");
      const ShardSample s = shards.sample(static_cast<std::uint64_t>(sample));
      std::cout << "sample " << sample << ": key '" << s.key << "' in " << s.shard << " at byte " << s.offset << "\n";
      for (const TarMember& m : s.members) {
        std::cout << "  ." << m.extension << " (" << m.size << " bytes)";
        const size_t dot = m.extension.rfind('.');
        ImageFormat f;
        if (image_format_of_extension(dot == std::string::npos ? m.extension : m.extension.substr(dot + 1), &f)) {
          int h = 0, w = 0;
          image_size(s.tar + m.offset, m.size, f, &h, &w);
          std::cout << " " << w << "x" << h << " px";
        } else if (m.extension == "json") {
          std::cout << ": " << std::string(reinterpret_cast<const char*>(s.tar + m.offset),
                                             std::min<std::uint64_t>(m.size, 400));
        }
        std::cout << "\n";
      }
    }
  }
  return 0;
}

}  // namespace

int inspect(const std::string& path, std::int64_t sample) {
  return source_kind(path) == SourceKind::IndexedText ? inspect_text(path, sample) : inspect_shards(path, sample);
}

int index(const std::string& dir) {
  const auto lines = index_shards(dir);
  for (const auto& l : lines) std::cout << l << "\n";
  if (lines.empty()) std::cout << dir << ": every index exists; nothing written\n";
  return 0;
}

int verify(const std::string& dir, std::int64_t image_token_id, const Recipe* recipe) {
  std::map<std::string, std::vector<std::string>> bad;  // shard -> problems
  std::uint64_t samples = 0, images = 0, problems = 0;
  for (const std::string& split : {std::string("train"), std::string("val"), std::string("test")}) {
    try {
      split_shards(dir, split);
    } catch (const DataError&) {
      continue;
    }
    ImageTextSourceConfig c = raw_config(dir, split, image_token_id);
    if (recipe) {
      c.seq_length = recipe->llm.seq_length;
      c.vocab_size = recipe->llm.vocab_size;
      c.patch_size = recipe->encoder.patch_size;
      c.min_patches = recipe->encoder.min_patches;
      c.max_patches = recipe->encoder.max_patches;
    }
    const ImageTextDataset d(c);
    for (std::uint64_t g = 0; g < d.shards().size(); ++g) {
      ++samples;
      try {
        const ImageTextDataset::Parsed p = d.parse(g);
        for (const TarMember* m : p.image_members) {
          const size_t dot = m->extension.rfind('.');
          ImageFormat f;
          image_format_of_extension(dot == std::string::npos ? m->extension : m->extension.substr(dot + 1), &f);
          try {
            decode_image(p.raw.tar + m->offset, m->size, f);
            ++images;
          } catch (const std::exception& e) {
            throw DataError(p.raw.shard + ": sample '" + p.raw.key + "' (byte " + std::to_string(p.raw.offset) +
                            "): image member ." + m->extension + ": " + e.what() + "; replace the image");
          }
        }
      } catch (const DataError& e) {
        ++problems;
        std::cout << "bad: " << e.what() << "\n";
      }
    }
  }
  std::cout << dir << ": " << samples << " samples, " << images << " images decoded, " << problems << " bad\n";
  return problems == 0 ? 0 : 1;
}

int blend(const Recipe& recipe, int count) {
  if (recipe.data.blend.empty()) {
    std::cout << "recipe " << recipe.name << " reads mock data (data.blend is empty)\n";
    return 0;
  }
  std::vector<double> weights;
  for (const auto& s : recipe.data.blend) weights.push_back(s.weight);
  const BlendAssignment a(weights);
  std::cout << "sources:\n";
  for (size_t d = 0; d < recipe.data.blend.size(); ++d)
    std::cout << "  [" << d << "] weight " << a.weights()[d] << "  " << recipe.data.blend[d].path << "\n";
  std::cout << "global sample -> source, index in source:\n";
  for (int i = 0; i < count; ++i) {
    const BlendChoice c = a.at(static_cast<std::uint64_t>(i));
    std::cout << "  " << i << " -> [" << c.source << "] " << c.index << "\n";
  }
  const int window = 10000;
  std::vector<int> taken(weights.size(), 0);
  for (int i = 0; i < window; ++i) ++taken[a.at(static_cast<std::uint64_t>(i)).source];
  std::cout << "shares over the first " << window << " samples:";
  for (size_t d = 0; d < taken.size(); ++d) std::cout << " [" << d << "] " << taken[d] / double(window);
  std::cout << "\n";
  return 0;
}

}  // namespace hetero::data_tool
