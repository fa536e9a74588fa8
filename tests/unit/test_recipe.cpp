// Recipes: loading, --set overrides, scale merging, and clear errors for
// everything a user can get wrong in a file or on the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config_error_of.h"
#include "hetero/errors.h"
#include "hetero/recipe.h"

namespace hetero {
namespace {

const std::string kRecipe = std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l";

using test::config_error_of;

TEST(Recipe, LoadsByDirectoryOrFile) {
  const Recipe a = load_recipe(kRecipe, "9n", {});
  const Recipe b = load_recipe(kRecipe + "/recipe.yaml", "9n", {});
  EXPECT_EQ(a.name, "nemotron_20l");
  EXPECT_EQ(a.llm.num_layers, b.llm.num_layers);
  EXPECT_EQ(a.scale.llm.ranks, 8 * 8);  // nodes x gpus_per_node
  ASSERT_GE(a.scale_names.size(), 3u);  // in file order
  EXPECT_EQ(std::vector<std::string>(a.scale_names.begin(), a.scale_names.begin() + 3),
            (std::vector<std::string>{"tiny", "1n", "9n"}));
}

TEST(Recipe, ScaleSectionsOverrideTheTopLevel) {
  EXPECT_EQ(load_recipe(kRecipe, "tiny", {}).llm.hidden_size, 32);
  EXPECT_EQ(load_recipe(kRecipe, "9n", {}).llm.hidden_size, 4096);
  EXPECT_EQ(load_recipe(kRecipe, "tiny", {}).train.global_batch_size, 8);
  EXPECT_EQ(load_recipe(kRecipe, "9n", {}).train.global_batch_size, 768);  // the top-level value
}

TEST(Recipe, OverridesWinOverFileAndScale) {
  const Recipe r = load_recipe(kRecipe, "tiny", {"scales.tiny.llm.tp=2", "train.global_batch_size=16", "seed=7"});
  EXPECT_EQ(r.scale.llm.tp, 2);
  EXPECT_EQ(r.train.global_batch_size, 16);  // the tiny scale's own value is 8
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.resolved["overrides"].size(), 3u);
  EXPECT_EQ(r.resolved["scale"]["name"].as<std::string>(), "tiny");
  EXPECT_EQ(r.resolved["train"]["global_batch_size"].as<int>(), 16);
}

// The hybrid pattern: the full-size layer counts, and each broken rule
// named with its value and the fix.
TEST(Recipe, HybridPatternOfBothRecipes) {
  const LlmArch dense = load_recipe(kRecipe, "9n", {}).llm;
  EXPECT_EQ(dense.num_layers, 20);
  EXPECT_EQ(dense.hybrid_override_pattern.size(), 20u);
  EXPECT_EQ(dense.count_layers('E'), 0);
  const LlmArch moe = load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_54l", "9n", {}).llm;
  EXPECT_EQ(moe.num_layers, 54);
  EXPECT_EQ(moe.count_layers('E'), 27);
  EXPECT_EQ(moe.count_layers('M') + moe.count_layers('*') + moe.count_layers('-'), 27);
  EXPECT_EQ(moe.num_experts, 128);
  // Tiny keeps every layer kind of its full-size pattern.
  for (const std::string name : {"nemotron_20l", "nemotron_54l"}) {
    const std::string dir = std::string(HETERO_SOURCE_DIR) + "/recipes/" + name;
    const LlmArch full = load_recipe(dir, "9n", {}).llm, tiny = load_recipe(dir, "tiny", {}).llm;
    for (char kind : std::string("M*-E"))
      EXPECT_EQ(full.count_layers(kind) > 0, tiny.count_layers(kind) > 0) << name << " layer kind " << kind;
  }
}

TEST(Recipe, HybridPatternRulesNameValueAndFix) {
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"model.llm.hybrid_override_pattern=M*M"}); })
                .find("model.llm.hybrid_override_pattern='M*M' has 3 characters but model.llm.num_layers=4; give "
                      "exactly one character per layer"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"model.llm.hybrid_override_pattern=MxM-"}); })
                .find("has 'x' at layer 1; use only M (Mamba-2), * (attention), - (MLP) and E (MoE)"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"model.llm.hybrid_override_pattern=M-ME"}); })
                .find("has 1 MoE layers (E) but model.llm.n_routed_experts=0; set n_routed_experts"),
            std::string::npos);
}

TEST(Recipe, UnknownKeysNameTheFullPath) {
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"scales.tiny.llm.tpp=2"}); })
                .find("unknown recipe key 'scales.tiny.llm.tpp'"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"train.foo=1"}); }).find("unknown recipe key 'train.foo'"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"foo=1"}); }).find("unknown recipe key 'foo'"),
            std::string::npos);
}

TEST(Recipe, WrongTypesNameKeyAndValue) {
  const std::string e = config_error_of([] { load_recipe(kRecipe, "tiny", {"train.global_batch_size=abc"}); });
  EXPECT_NE(e.find("train.global_batch_size"), std::string::npos) << e;
  EXPECT_NE(e.find("'abc'"), std::string::npos) << e;
}

TEST(Recipe, MissingFileAndUnknownScale) {
  EXPECT_NE(config_error_of([] { load_recipe("/no/such/recipe", "tiny", {}); }).find("/no/such/recipe"), std::string::npos);
  const std::string e = config_error_of([] { load_recipe(kRecipe, "7n", {}); });
  EXPECT_NE(e.find("unknown scale '7n'"), std::string::npos) << e;
  EXPECT_NE(e.find("(scales: tiny, 1n, 9n"), std::string::npos) << e;
}

TEST(Recipe, MalformedOverrides) {
  EXPECT_THROW(parse_override("noequals"), ConfigError);
  EXPECT_THROW(parse_override("a..b=1"), ConfigError);
  EXPECT_THROW(parse_override("=1"), ConfigError);
  const auto [path, value] = parse_override("scales.tiny.llm.tp=2");
  EXPECT_EQ(path, (std::vector<std::string>{"scales", "tiny", "llm", "tp"}));
  EXPECT_EQ(value, "2");
}

// A typo in a scale that is not the one being run is still reported.
TEST(Recipe, TyposInOtherScalesAreReported) {
  const std::string dir = std::filesystem::temp_directory_path() / ("hetero-recipe-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ifstream in(kRecipe + "/recipe.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("llm: {nodes: 8, tp: 2}"), 22, "llm: {nodes: 8, tq: 2}");
  std::ofstream(dir + "/recipe.yaml") << text;
  EXPECT_NE(config_error_of([&] { load_recipe(dir, "tiny", {}); }).find("unknown recipe key 'scales.9n.llm.tq'"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Recipe, DataMustFitTheModel) {
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"data.image_min_px=5", "data.image_max_px=4"}); })
                .find("data.image_min_px=5 and data.image_max_px=4 must satisfy 1 <= min <= max"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { load_recipe(kRecipe, "tiny", {"model.encoder.min_patches=2"}); })
                .find("must satisfy 4 <= min <= max"),
            std::string::npos);
  // tiny: seq_length 48, so 200 patches (50 rows) can never fit in half a sample.
  EXPECT_NE(config_error_of([] {
              load_recipe(kRecipe, "tiny", {"model.encoder.min_patches=200", "model.encoder.max_patches=400"});
            }).find("model.encoder.min_patches=200 gives at least 50 image rows"),
            std::string::npos);
}

// The encoder's architecture variants: the recipes describe C-RADIO as
// transformers' RadioModel runs it, and each bad value is named with the fix.
TEST(Recipe, EncoderIsCRadio) {
  for (const char* scale : {"tiny", "9n"}) {
    const EncoderArch e = load_recipe(kRecipe, scale, {}).encoder;
    EXPECT_EQ(e.norm, "layernorm") << scale;
    EXPECT_EQ(e.norm_eps, 1e-6) << scale;
    EXPECT_TRUE(e.bias) << scale;
    EXPECT_EQ(e.mlp_activation, "gelu") << scale;
    EXPECT_FALSE(e.final_norm) << scale;
    EXPECT_EQ(e.position_interpolation, "square_crop") << scale;
    EXPECT_EQ(e.pixel_mean, (std::vector<double>{0.48145466, 0.4578275, 0.40821073})) << scale;
    EXPECT_EQ(e.pixel_std.size(), 3u) << scale;
  }
  const EncoderArch full = load_recipe(kRecipe, "9n", {}).encoder;
  EXPECT_EQ(full.num_cls_tokens + full.num_registers, 10);  // RadioConfig: 3 class tokens, 7 registers
  EXPECT_EQ(full.position_table_side * full.patch_size, 2048);  // max_img_size
}

TEST(Recipe, EncoderVariantsAreChecked) {
  auto error = [](std::vector<std::string> sets) {
    return config_error_of([&] { load_recipe(kRecipe, "tiny", sets); });
  };
  EXPECT_NE(error({"model.encoder.norm=batchnorm"}).find("model.encoder.norm='batchnorm' must be rmsnorm or layernorm"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.norm_eps=0"}).find("model.encoder.norm_eps=0 must be greater than 0"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.mlp_activation=swiglu"})
                .find("model.encoder.mlp_activation='swiglu' must be squared_relu, gelu (exact, erf) or gelu_tanh"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.position_interpolation=nearest"})
                .find("model.encoder.position_interpolation='nearest' must be stretch or square_crop"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.pixel_mean=[0.5, 0.5]"})
                .find("model.encoder.pixel_mean has 2 values but model.encoder.channels=3"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.pixel_std=[1, 0, 1]"}).find("model.encoder.pixel_std[1]=0 must be greater than 0"),
            std::string::npos);
  EXPECT_NE(error({"model.encoder.pixel_std=null"}).find("pixel_mean is given alone"), std::string::npos);
  EXPECT_NE(error({"model.encoder.pixel_mean=fast"}).find("expected a list of numbers"), std::string::npos);
  EXPECT_NE(error({"model.encoder.bias=maybe"}).find("model.encoder.bias': expected true or false"),
            std::string::npos);
  // The earlier block stays expressible.
  const EncoderArch old = load_recipe(kRecipe, "tiny", {"model.encoder.norm=rmsnorm", "model.encoder.bias=false",
                                                        "model.encoder.mlp_activation=squared_relu",
                                                        "model.encoder.final_norm=true",
                                                        "model.encoder.position_interpolation=stretch",
                                                        "model.encoder.pixel_mean=null", "model.encoder.pixel_std=null"})
                              .encoder;
  EXPECT_EQ(old.norm, "rmsnorm");
  EXPECT_TRUE(old.pixel_mean.empty());
}

}  // namespace
}  // namespace hetero
