// hetero-data: inspect, index and verify datasets, show a recipe's blend,
// and generate a blend to train on. Torch-free.
#include <iostream>

#include <boost/program_options.hpp>

#include "commands.h"
#include "data/dataset.h"
#include "hetero/cli.h"
#include "hetero/errors.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {

const char* kUsage =
    "usage: hetero-data COMMAND ...\n"
    "  inspect PATH [--sample N]        counts and statistics of a text prefix or a shard folder\n"
    "  index DIR                        write missing SHARD.tar.idx and .nv-meta/.info.json\n"
    "  verify DIR [--image-token-id N | --recipe R [--scale S] [--set k=v]]\n"
    "                                   decode every image, check placeholders; list bad samples\n"
    "  blend --recipe R [--scale S] [--set k=v] [--count N]\n"
    "                                   which source each of the first global samples comes from\n"
    "  generate OUT [--documents N] [--images N] [--image-px P] [--shards N] [--vocab-size V]\n"
    "               [--image-token-id N] [--seed S]\n"
    "                                   a 90/10-ready text prefix and JPEG shards for a test run\n";

int run(int argc, const char* const* argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  const int sub_argc = argc - 1;
  const char* const* sub_argv = argv + 1;
  po::options_description desc("hetero-data " + cmd);
  po::positional_options_description pos;
  std::string path;
  RecipeArgs recipe_args;
  std::int64_t sample = -1, image_token_id = -1;
  int count = 20;
  data_tool::GenerateOptions gen;
  if (cmd == "inspect") {
    desc.add_options()("path", po::value(&path)->required(), "text prefix or shard folder")(
        "sample", po::value(&sample), "show this document / sample");
    pos.add("path", 1);
  } else if (cmd == "index") {
    desc.add_options()("dir", po::value(&path)->required(), "shard folder");
    pos.add("dir", 1);
  } else if (cmd == "verify") {
    desc.add_options()("dir", po::value(&path)->required(), "shard folder")(
        "image-token-id", po::value(&image_token_id), "the image placeholder id (else the recipe's data.image_token_id)")(
        "recipe", po::value(&recipe_args.recipe), "recipe whose model and data settings apply (optional)")(
        "scale", po::value(&recipe_args.scale)->default_value("tiny"), "scale of the recipe")(
        "set", po::value(&recipe_args.overrides)->composing(), "override a recipe key (repeatable)");
    pos.add("dir", 1);
  } else if (cmd == "blend") {
    add_recipe_options(desc, recipe_args);
    desc.add_options()("count", po::value(&count), "global samples to list (default 20)");
  } else if (cmd == "generate") {
    desc.add_options()("out", po::value(&gen.out)->required(), "output folder (must not exist)")(
        "documents", po::value(&gen.documents), "text documents (default 2000)")(
        "images", po::value(&gen.images), "image-text samples (default 400)")(
        "image-px", po::value(&gen.image_px), "longer image side in pixels (default 1024)")(
        "shards", po::value(&gen.shards), "tar shards (default 4)")(
        "vocab-size", po::value(&gen.vocab_size), "token ids are drawn below this (default 131072)")(
        "image-token-id", po::value(&gen.image_token_id), "the image placeholder id (default 10)")(
        "seed", po::value(&gen.seed), "seed (default 1)");
    pos.add("out", 1);
  } else {
    std::cerr << "hetero-data: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  }
  if (!parse_command_line(sub_argc, sub_argv, desc, "hetero-data " + cmd, &pos)) return 0;
  if (cmd == "inspect") return data_tool::inspect(path, sample);
  if (cmd == "index") return data_tool::index(path);
  if (cmd == "generate") return data_tool::generate(gen);
  if (cmd == "verify") {
    if (recipe_args.recipe.empty()) {
      if (image_token_id < 0)
        throw ConfigError("hetero-data verify: give --image-token-id N or --recipe R (its data.image_token_id)");
      return data_tool::verify(path, image_token_id, nullptr);
    }
    const Recipe r = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
    return data_tool::verify(path, image_token_id >= 0 ? image_token_id : r.data.image_token_id, &r);
  }
  if (recipe_args.recipe.empty()) throw ConfigError("hetero-data blend: --recipe is required");
  return data_tool::blend(load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides), count);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const ConfigError& e) {
    for (const auto& p : e.problems()) std::cerr << "hetero-data: " << p << "\n";
    return 2;
  } catch (const DataError& e) {
    std::cerr << "hetero-data: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "hetero-data: " << e.what() << "\n";
    return 1;
  }
}
