// Nonsense values are refused at the border with one message each, naming
// the recipe key as the user writes it, the rule and the fix: ranges of the
// optimizer and of every size, empty values, duplicate keys, octal/hex
// numbers, and bad values in sections the chosen scale overrides.
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "config_error_of.h"
#include "hetero/errors.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"

namespace hetero {
namespace {

const std::string kRecipe = std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l";

using test::config_error_of;

std::string load_error(const std::vector<std::string>& sets, const std::string& recipe = kRecipe) {
  return config_error_of([&] { load_recipe(recipe, "tiny", sets); });
}

// The recipe text with `from` (its first occurrence) replaced, in a fresh folder.
std::string edited_recipe(const std::string& from, const std::string& to) {
  static int n = 0;
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("hetero-recipe-val-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::create_directories(dir);
  std::ifstream in(kRecipe + "/recipe.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  std::ofstream(dir + "/recipe.yaml") << text;
  return dir;
}

TEST(RecipeValidation, OptimizerRangesAreChecked) {
  const std::string e = load_error({"train.lr=-1", "train.min_lr=-2", "train.adam_beta1=5", "train.adam_beta2=1",
                                    "train.adam_eps=-1", "train.weight_decay=-3", "train.clip_grad=-1"});
  for (const char* want : {"train.lr=-1 must be 0 or more", "train.min_lr=-2 must be 0 or more",
                           "train.adam_beta1=5 must lie in [0, 1)", "train.adam_beta2=1 must lie in [0, 1)",
                           "train.adam_eps=-1 must be greater than 0", "train.weight_decay=-3 must be 0 or more",
                           "train.clip_grad=-1 must be 0 (no clipping) or more"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  EXPECT_NE(load_error({"train.adam_eps=0"}).find("train.adam_eps=0 must be greater than 0"), std::string::npos);
  EXPECT_NE(load_error({"train.max_skipped_in_a_row=0"}).find("train.max_skipped_in_a_row=0 must be at least 1"),
            std::string::npos);
  // The edges of the ranges are fine.
  EXPECT_NO_THROW(load_recipe(kRecipe, "tiny", {"train.adam_beta1=0", "train.clip_grad=0", "train.weight_decay=0"}));
}

TEST(RecipeValidation, EverySizeIsAtLeastOne) {
  const std::string e = load_error({"model.llm.hidden_size=-32", "model.encoder.patch_size=0", "model.llm.ssm_state_size=0"});
  for (const char* want : {"model.llm.hidden_size=-32 must be at least 1", "model.encoder.patch_size=0 must be at least 1",
                           "model.llm.ssm_state_size=0 must be at least 1"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  EXPECT_NE(load_error({"launch.hang_timeout_s=-1"}).find("launch.hang_timeout_s=-1 must be 0"), std::string::npos);
}

TEST(RecipeValidation, EmptyValuesAreNotUnset) {
  for (const std::string value : {"", "~", "null"}) {
    const std::string e = load_error({"scales.tiny.llm.ep=" + value});
    EXPECT_NE(e.find("recipe key 'scales.tiny.llm.ep' has no value; give an integer"), std::string::npos)
        << value << "\n" << e;
  }
  EXPECT_NE(load_error({"train.lr="}).find("recipe key 'train.lr' has no value"), std::string::npos);
}

TEST(RecipeValidation, DuplicateKeysAreRefused) {
  const std::string dir = edited_recipe("  micro_batch_size: 1\n", "  micro_batch_size: 1\n  micro_batch_size: 2\n");
  const std::string e = load_error({}, dir);
  // The line of the first micro_batch_size in the recipe as it stands.
  std::ifstream in(kRecipe + "/recipe.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("  micro_batch_size: 1\n");
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  const std::string want = "key 'train.micro_batch_size' is given twice (lines " + std::to_string(line) + " and " +
                           std::to_string(line + 1) + "); keep one";
  EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  std::filesystem::remove_all(dir);
}

TEST(RecipeValidation, OnlyPlainDecimalNumbers) {
  const std::string octal = load_error({"train.micro_batch_size=010"});
  EXPECT_NE(octal.find("recipe key 'train.micro_batch_size': expected an integer, got '010' (a leading zero"),
            std::string::npos)
      << octal;
  const std::string hex = load_error({"scales.tiny.llm.tp=0x2"});
  EXPECT_NE(hex.find("got '0x2' (hex, octal and binary prefixes are not accepted)"), std::string::npos) << hex;
  EXPECT_NE(load_error({"train.lr=.inf"}).find("recipe key 'train.lr': expected a number, got '.inf'"),
            std::string::npos);
  // Ordinary spellings still read.
  const Recipe r = load_recipe(kRecipe, "tiny", {"train.lr=3.0e-3", "train.min_lr=0", "train.clip_grad=.5"});
  EXPECT_DOUBLE_EQ(r.train.clip_grad, 0.5);
}

// tiny overrides train.lr, so a bad top-level lr used to surface only at 9n.
TEST(RecipeValidation, TheWholeFileIsCheckedWhateverTheScale) {
  const std::string dir = edited_recipe("  lr: 1.0e-4\n", "  lr: -1.0e-4\n");
  const std::string e = load_error({}, dir);
  EXPECT_NE(e.find("at scale 9n (every scale of the recipe is checked): train.lr=-0.0001 must be 0 or more"),
            std::string::npos)
      << e;
  std::filesystem::remove_all(dir);
}

TEST(RecipeValidation, TopologyMessagesNameTheRecipeKeys) {
  std::string e = config_error_of([] { plan_topology(load_recipe(kRecipe, "tiny", {"scales.tiny.llm.ep=2"})); });
  EXPECT_NE(e.find("(model.llm.n_routed_experts=0)"), std::string::npos) << e;
  e = config_error_of([] { plan_topology(load_recipe(kRecipe, "tiny", {"scales.tiny.llm.tp=2", "model.llm.vocab_size=63"})); });
  EXPECT_NE(e.find("scales.tiny.llm.tp=2 does not divide model.llm.vocab_size=63"), std::string::npos) << e;
}

}  // namespace
}  // namespace hetero
