// Hugging Face RADIO interop of the vision encoder: the name mapping
// round-trips in both checkpoint spellings (transformers' RadioModel and the
// released C-RADIO names with a fused qkv), the C-RADIO block variant
// (LayerNorm with bias, biased linears, GELU, cropped position embedding,
// input conditioner, no final norm) computes what transformers' RadioModel
// computes (a plain reference written here from modeling_radio.py), tp=2
// loads the same checkpoint into the same features as tp=1, and a bad
// checkpoint fails naming the tensor or key and the fix.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <torch/torch.h>

#include "hf/hf_radio.h"
#include "checkpoint/tensor_io.h"
#include "hetero/errors.h"
#include "hetero/safetensors.h"
#include "layer_checks.h"
#include "model/radio_encoder.h"
#include "model/radio_ops.h"
#include "ranks.h"

namespace hetero {
namespace {

using test::expect_close;
using test::single_group;

// A small C-RADIO: the recipes' variant at toy widths.
EncoderArch small_cradio() {
  EncoderArch a = test::small_cradio_arch(8, 2, 16, 4);
  a.final_norm = false;
  a.pixel_mean = {0.48145466, 0.4578275, 0.40821073};
  a.pixel_std = {0.26862954, 0.26130258, 0.27577711};
  return a;
}

constexpr int kLlmHidden = 12;

// Full tensors of the encoder's vision parameters (tp=1), by name.
std::map<std::string, at::Tensor> vision_tensors(RadioEncoder& enc) {
  std::map<std::string, at::Tensor> out;
  for (const Param& p : enc.params().params())
    if (p.name.rfind("encoder.", 0) == 0) out.emplace(p.name, p.value.detach().clone());
  return out;
}

// An encoder whose every parameter is random (biases and norms included).
std::unique_ptr<RadioEncoder> random_encoder(const EncoderArch& a, const Group& tp, uint64_t seed) {
  auto enc = std::make_unique<RadioEncoder>(a, kLlmHidden, seed, tp, at::kCPU, at::kFloat);
  test::randomize(enc->params(), tp.rank, tp.size(), seed);
  return enc;
}

std::string exported(const EncoderArch& a, HfRadioLayout layout, const std::string& tag) {
  const Group one = single_group();
  auto enc = random_encoder(a, one, 11);
  const std::string dir = test::temp_dir(tag);
  save_hf_radio(dir, vision_tensors(*enc), a, layout);
  return dir;
}

// Rewrites DIR/model.safetensors through `edit`.
void edit_checkpoint(const std::string& dir, const std::function<void(std::map<std::string, SafeTensor>&)>& edit) {
  SafeTensorFile f = read_safetensors(dir + "/model.safetensors");
  edit(f.tensors);
  write_safetensors(dir + "/model.safetensors", f.tensors, f.metadata);
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json c = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  edit(c);
  std::ofstream(dir + "/config.json") << c.dump(2);
}

std::string load_error(const std::string& dir, const EncoderArch& a) {
  const Group one = single_group();
  RadioEncoder enc(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
  try {
    load_hf_radio(enc, dir, a);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// Loading `dir` into a differently seeded encoder gives back exactly the
// exported vision tensors, and leaves the projector as seeded.
void expect_round_trip(const EncoderArch& a, const std::string& dir) {
  const Group one = single_group();
  auto original = random_encoder(a, one, 11);
  RadioEncoder loaded(a, kLlmHidden, 99, one, at::kCPU, at::kFloat);
  RadioEncoder seeded(a, kLlmHidden, 99, one, at::kCPU, at::kFloat);
  load_hf_radio(loaded, dir, a);
  const auto want = vision_tensors(*original);
  ASSERT_EQ(loaded.params().params().size(), seeded.params().params().size());
  for (size_t i = 0; i < loaded.params().params().size(); ++i) {
    const Param& p = loaded.params().params()[i];
    if (p.name.rfind("encoder.", 0) == 0)
      EXPECT_TRUE(at::equal(p.value, want.at(p.name))) << p.name;
    else
      EXPECT_TRUE(at::equal(p.value, seeded.params().params()[i].value)) << p.name << " (projector stays seeded)";
  }
}

TEST(HfRadioNames, NativeAndLegacySpellings) {
  const auto native = [](const std::string& n) { return hf_radio_name(n, HfRadioLayout::Native); };
  const auto legacy = [](const std::string& n) { return hf_radio_name(n, HfRadioLayout::Legacy); };
  EXPECT_EQ(native("encoder.patch_embed.weight").name, "embeddings.patch_projection.weight");
  EXPECT_EQ(native("encoder.pos_embed").name, "embeddings.position_embedding");
  EXPECT_EQ(native("encoder.summary_tokens").name, "embeddings.cls_register_token");
  EXPECT_EQ(native("encoder.blocks.3.attn_norm.bias").name, "encoder.layer.3.norm1.bias");
  EXPECT_EQ(native("encoder.blocks.3.attn.k_proj.weight").name, "encoder.layer.3.attention.attention.key.weight");
  EXPECT_EQ(native("encoder.blocks.3.attn.o_proj.bias").name, "encoder.layer.3.attention.output.dense.bias");
  EXPECT_EQ(native("encoder.blocks.3.mlp_norm.weight").name, "encoder.layer.3.norm2.weight");
  EXPECT_EQ(native("encoder.blocks.12.mlp.up_proj.weight").name, "encoder.layer.12.mlp.fc1.weight");
  EXPECT_EQ(native("encoder.blocks.12.mlp.down_proj.bias").name, "encoder.layer.12.mlp.fc2.bias");
  EXPECT_EQ(native("encoder.final_norm.weight").name, "");  // RadioModel has none
  EXPECT_EQ(native("projector.fc1.weight").name, "");
  EXPECT_EQ(legacy("encoder.patch_embed.weight").name, "model.patch_generator.embedder.weight");
  EXPECT_EQ(legacy("encoder.pos_embed").name, "model.patch_generator.pos_embed");
  EXPECT_EQ(legacy("encoder.summary_tokens").name, "model.patch_generator.cls_token.token");
  for (auto [ours, part] : {std::pair<const char*, int>{"q_proj", 0}, {"k_proj", 1}, {"v_proj", 2}}) {
    const HfRadioName n = legacy(std::string("encoder.blocks.0.attn.") + ours + ".bias");
    EXPECT_EQ(n.name, "model.blocks.0.attn.qkv.bias");
    EXPECT_EQ(n.part, part);
  }
  EXPECT_EQ(legacy("encoder.blocks.0.attn.o_proj.weight").name, "model.blocks.0.attn.proj.weight");
  EXPECT_EQ(legacy("encoder.final_norm.weight").name, "model.norm.weight");
}

TEST(HfRadio, NativeRoundTrip) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-native");
  const SafeTensorFile f = read_safetensors(dir + "/model.safetensors");
  // The exact tensor set transformers' RadioModel.state_dict() has (less the
  // int64 summary_idxs buffer, which RadioModel rebuilds from config.json).
  std::set<std::string> want{"embeddings.patch_projection.weight", "embeddings.position_embedding",
                             "embeddings.cls_register_token", "input_conditioner.norm_mean",
                             "input_conditioner.norm_std"};
  for (int i = 0; i < a.num_layers; ++i)
    for (const char* m : {"norm1", "attention.attention.query", "attention.attention.key", "attention.attention.value",
                          "attention.output.dense", "norm2", "mlp.fc1", "mlp.fc2"})
      for (const char* w : {"weight", "bias"})
        want.insert("encoder.layer." + std::to_string(i) + "." + m + "." + w);
  for (int i = 0; i < a.num_layers; ++i)
    for (const char* s : {"layer_scale1", "layer_scale2"}) want.insert("encoder.layer." + std::to_string(i) + "." + s + ".lambda1");
  std::set<std::string> got;
  for (const auto& [name, t] : f.tensors) got.insert(name);
  EXPECT_EQ(got, want);
  EXPECT_EQ(f.tensors.at("embeddings.position_embedding").shape, (std::vector<int64_t>{1, 16, 8}));
  EXPECT_EQ(f.tensors.at("embeddings.cls_register_token").shape, (std::vector<int64_t>{3, 8}));
  EXPECT_EQ(f.tensors.at("input_conditioner.norm_std").shape, (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(f.metadata.at("format"), "pt");
  const at::Tensor key_bias = to_tensor(f.tensors.at("encoder.layer.1.attention.attention.key.bias"));
  EXPECT_TRUE(at::equal(key_bias, at::zeros({a.hidden_size})));
  const nlohmann::json c = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  EXPECT_EQ(c["model_type"], "radio");
  EXPECT_EQ(c["max_img_size"], 8);  // position_table_side 4 x patch 2
  EXPECT_EQ(c["mlp_ratio"].get<double>(), 2.0);
  EXPECT_EQ(c["num_cls_tokens"], 2);
  EXPECT_EQ(c["num_registers"], 1);
  EXPECT_EQ(c["hidden_act"], "gelu");
  expect_round_trip(a, dir);
  expect_round_trip(a, dir + "/model.safetensors");  // the file alone, config.json beside it
  test::remove_flat_dir(dir);
}

TEST(HfRadio, LegacyRoundTripJoinsAndSplitsQkv) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Legacy, "hf-radio-legacy");
  const SafeTensorFile f = read_safetensors(dir + "/model.safetensors");
  const Group one = single_group();
  auto original = random_encoder(a, one, 11);
  const auto ours = vision_tensors(*original);
  for (int i = 0; i < a.num_layers; ++i) {
    const std::string b = "encoder.blocks." + std::to_string(i) + ".attn.";
    const std::string hf = "radio_model.model.blocks." + std::to_string(i) + ".attn.qkv.";
    for (const char* w : {"weight", "bias"}) {
      const at::Tensor fused = to_tensor(f.tensors.at(hf + w));
      EXPECT_EQ(fused.size(0), 3 * a.hidden_size);
      // Our blocks have no key bias: zeros in its rows.
      const at::Tensor k = std::string(w) == "bias" ? at::zeros({a.hidden_size}) : ours.at(b + "k_proj." + w);
      EXPECT_TRUE(at::equal(fused, at::cat({ours.at(b + "q_proj." + w), k, ours.at(b + "v_proj." + w)})))
          << hf << w << " is q; k; v";
    }
  }
  EXPECT_TRUE(f.tensors.count("radio_model.model.patch_generator.embedder.weight"));
  EXPECT_TRUE(f.tensors.count("radio_model.input_conditioner.norm_mean"));
  expect_round_trip(a, dir);
  test::remove_flat_dir(dir);
}

TEST(HfRadio, LoadsUnderAPrefixAndFromAShardedIndex) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-prefix");
  // A VLM's checkpoint: the encoder under "vision_model.", two shard files.
  SafeTensorFile f = read_safetensors(dir + "/model.safetensors");
  std::map<std::string, SafeTensor> one, two;
  nlohmann::json index{{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  int k = 0;
  for (auto& [name, t] : f.tensors) {
    const std::string file = k++ % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
    (k % 2 ? one : two).emplace("vision_model." + name, t);
    index["weight_map"]["vision_model." + name] = file;
  }
  std::filesystem::remove(dir + "/model.safetensors");
  write_safetensors(dir + "/model-00001-of-00002.safetensors", one);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", two);
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  expect_round_trip(a, dir);
  test::remove_flat_dir(dir);
}

// transformers' RadioModel, written from modeling_radio.py with plain torch
// ops, one image [C, H, W] at a time: features [rows*cols, hidden].
at::Tensor hf_reference(const std::map<std::string, at::Tensor>& w, const EncoderArch& a, const at::Tensor& image) {
  const int64_t p = a.patch_size, c = a.channels, side = a.position_table_side, hid = a.hidden_size;
  const int64_t rows = image.size(1) / p, cols = image.size(2) / p;
  // RadioInputConditioner.
  const at::Tensor mean = torch::tensor(a.pixel_mean, torch::kDouble).to(torch::kFloat).view({-1, 1, 1});
  const at::Tensor stdev = torch::tensor(a.pixel_std, torch::kDouble).to(torch::kFloat).view({-1, 1, 1});
  const at::Tensor x = ((image - mean) / stdev).unsqueeze(0);
  // RadioPatchEmbeddings._image_to_patches + patch_projection.
  const at::Tensor patches =
      x.reshape({1, c, rows, p, cols, p}).permute({0, 2, 4, 1, 3, 5}).reshape({1, rows * cols, c * p * p});
  at::Tensor h = at::linear(patches, w.at("encoder.patch_embed.weight"));
  // _interpolate_position_embedding: [1, side*side, C] -> square of the
  // longer side (bilinear, align_corners=False) -> top-left crop.
  at::Tensor pos = w.at("encoder.pos_embed").reshape({1, side, side, hid}).permute({0, 3, 1, 2});
  const int64_t m = std::max(rows, cols);
  pos = torch::nn::functional::interpolate(
      pos, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{m, m}).mode(torch::kBilinear).align_corners(false));
  pos = pos.narrow(2, 0, rows).narrow(3, 0, cols);
  h = h + pos.flatten(2).permute({0, 2, 1});
  h = at::cat({w.at("encoder.summary_tokens").unsqueeze(0), h}, 1);
  // RadioLayer x num_layers.
  const int64_t heads = a.num_attention_heads, hd = hid / heads, t = h.size(1);
  for (int i = 0; i < a.num_layers; ++i) {
    const std::string b = "encoder.blocks." + std::to_string(i) + ".";
    auto lin = [&](const at::Tensor& in, const std::string& n) {
      return at::linear(in, w.at(b + n + ".weight"), w.at(b + n + ".bias"));
    };
    auto ln = [&](const at::Tensor& in, const std::string& n) {
      return at::layer_norm(in, {hid}, w.at(b + n + ".weight"), w.at(b + n + ".bias"), a.norm_eps);
    };
    const at::Tensor n1 = ln(h, "attn_norm");
    auto split = [&](const at::Tensor& y) { return y.view({1, t, heads, hd}).transpose(1, 2); };
    const at::Tensor q = split(lin(n1, "attn.q_proj")), k = split(lin(n1, "attn.k_proj")),
                     v = split(lin(n1, "attn.v_proj"));
    const at::Tensor probs = at::softmax(at::matmul(q, k.transpose(2, 3)) * std::pow(hd, -0.5), -1);
    const at::Tensor ctx = at::matmul(probs, v).transpose(1, 2).reshape({1, t, hid});
    h = lin(ctx, "attn.o_proj") * 1.0 + h;  // layer_scale1 = 1
    const at::Tensor mlp = lin(at::gelu(lin(ln(h, "mlp_norm"), "mlp.up_proj")), "mlp.down_proj");
    h = mlp * 1.0 + h;
  }
  return h.squeeze(0).narrow(0, a.num_cls_tokens + a.num_registers, rows * cols);  // no final norm
}

// Images [C, H, W] packed as the encoder takes them (channel-major patch vectors).
ImageBatch pack(const std::vector<at::Tensor>& images, int p) {
  ImageBatch b;
  std::vector<at::Tensor> pixels;
  for (const at::Tensor& img : images) {
    const int64_t c = img.size(0), rows = img.size(1) / p, cols = img.size(2) / p;
    pixels.push_back(img.reshape({c, rows, p, cols, p}).permute({1, 3, 0, 2, 4}).reshape({rows * cols, -1}));
    b.grids.push_back({static_cast<int>(rows), static_cast<int>(cols)});
    b.cu_seqlens.push_back(b.cu_seqlens.back() + rows * cols);
  }
  b.pixels = at::cat(pixels, 0).contiguous();
  return b;
}

std::vector<at::Tensor> test_images() {
  torch::manual_seed(21);
  // Grids 3x5 (wide, odd: features need no even sides), 6x2 (tall, larger
  // than the 4x4 table) and 2x2.
  return {torch::rand({3, 6, 10}), torch::rand({3, 12, 4}), torch::rand({3, 4, 4})};
}

TEST(HfRadio, CRadioBlockMatchesTransformersReference) {
  const EncoderArch a = small_cradio();
  const Group one = single_group();
  auto enc = random_encoder(a, one, 3);
  auto w = vision_tensors(*enc);
  // RadioModel has a key bias; ours has none, as it cannot change the output.
  torch::manual_seed(4);
  for (int i = 0; i < a.num_layers; ++i)
    w["encoder.blocks." + std::to_string(i) + ".attn.k_proj.bias"] = torch::randn({a.hidden_size});
  const auto images = test_images();
  at::NoGradGuard no_grad;
  const at::Tensor got = enc->features(pack(images, a.patch_size));
  int64_t offset = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const at::Tensor want = hf_reference(w, a, images[i]);
    expect_close(got.narrow(0, offset, want.size(0)), want, 1e-5, "image " + std::to_string(i));
    offset += want.size(0);
  }
  EXPECT_EQ(offset, got.size(0));
}

TEST(HfRadio, SquareCropPositionTable) {
  const at::Tensor table = torch::randn({4, 4, 3});
  // The 3x5 grid: the table resized to 5x5, rows 0..2 kept.
  const at::Tensor got = square_crop_position_table(table, 3, 5);
  const at::Tensor want = interpolate_position_table(table, 5, 5).narrow(0, 0, 3);
  EXPECT_TRUE(at::equal(got, want));
  EXPECT_TRUE(at::allclose(square_crop_position_table(table, 4, 4), table));
}

TEST(HfRadio, TensorParallel2LoadsTheSameFeatures) {
  if (!kHaveGloo) GTEST_SKIP() << "this build has no Gloo process groups (LibTorch from a wheel)";
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Legacy, "hf-radio-tp");
  const auto images = test_images();
  const Group one = single_group();
  RadioEncoder single(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
  load_hf_radio(single, dir, a);
  at::Tensor want;
  {
    at::NoGradGuard no_grad;
    want = single.features(pack(images, a.patch_size));
  }
  const std::string out = test::temp_dir("hf-radio-tp-out");
  const std::string failed = test::run_ranks(2, [&](int rank, const StorePtr& store) {
    const Group tp = test::make_group(store, "tp", {0, 1}, rank);
    RadioEncoder enc(a, kLlmHidden, 5, tp, at::kCPU, at::kFloat);
    load_hf_radio(enc, dir, a);
    // Column-parallel biases are this rank's rows; row-parallel ones whole.
    for (const Param& p : enc.params().params()) {
      if (p.name == "encoder.blocks.0.attn.q_proj.bias" || p.name == "encoder.blocks.0.mlp.up_proj.bias")
        if (p.tp_shard_dim != 0 || p.shards != 2) throw std::runtime_error(p.name + " is not split by rows");
      if (p.name == "encoder.blocks.0.attn.o_proj.bias" && p.tp_shard_dim != -1)
        throw std::runtime_error(p.name + " is not replicated");
    }
    at::NoGradGuard no_grad;
    test::save_tensors(out + "/rank" + std::to_string(rank), {enc.features(pack(images, a.patch_size))});
  });
  ASSERT_EQ(failed, "");
  for (int rank = 0; rank < 2; ++rank)
    expect_close(test::load_tensors(out + "/rank" + std::to_string(rank))[0], want, 1e-5,
                 "tp=2 rank " + std::to_string(rank));
  test::remove_flat_dir(dir);
  test::remove_flat_dir(out);
}

TEST(HfRadio, CheckpointWithoutQkvBiasLoadsZeros) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-noqkv");
  edit_checkpoint(dir, [](std::map<std::string, SafeTensor>& t) {
    for (int i = 0; i < 2; ++i)
      for (const char* m : {"query", "key", "value"})
        t.erase("encoder.layer." + std::to_string(i) + ".attention.attention." + m + ".bias");
  });
  edit_config(dir, [](nlohmann::json& c) { c["qkv_bias"] = false; });
  const Group one = single_group();
  RadioEncoder enc(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
  test::randomize(enc.params(), 0, 1, 8);
  load_hf_radio(enc, dir, a);
  for (const Param& p : enc.params().params())
    if (p.name.find("attn.q_proj.bias") != std::string::npos || p.name.find("attn.v_proj.bias") != std::string::npos)
      EXPECT_TRUE(at::equal(p.value, at::zeros_like(p.value))) << p.name;
  test::remove_flat_dir(dir);
}

// The final norm runs over every token when the recipe has one (seed 004's
// encoder once lost it): with an RMSNorm whose weight is ones each token's
// features have RMS 1, scaling the weight scales the features, and without
// the norm they are not normalised.
TEST(RadioFinalNorm, RunsOverEveryTokenWhenEnabled) {
  EncoderArch a = small_cradio();
  a.norm = "rmsnorm";
  a.final_norm = true;
  const auto images = test_images();
  const Group one = single_group();
  RadioEncoder enc(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
  test::randomize(enc.params(), 0, 1, 21);
  at::Tensor final_weight;
  for (const Param& p : enc.params().params())
    if (p.name == "encoder.final_norm.weight") final_weight = p.value;
  ASSERT_TRUE(final_weight.defined()) << "no encoder.final_norm.weight parameter";
  at::NoGradGuard no_grad;
  final_weight.fill_(1.0);
  const at::Tensor normed = enc.features(pack(images, a.patch_size));
  const at::Tensor rms = normed.pow(2).mean(-1).sqrt();
  test::expect_close(rms, at::ones_like(rms), 1e-4, "per-token RMS after the final norm");
  final_weight.fill_(2.0);
  test::expect_close(enc.features(pack(images, a.patch_size)), normed * 2, 1e-5, "features with the weight doubled");

  a.final_norm = false;
  RadioEncoder plain(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
  test::randomize(plain.params(), 0, 1, 21);
  const at::Tensor raw_rms = plain.features(pack(images, a.patch_size)).pow(2).mean(-1).sqrt();
  EXPECT_GT((raw_rms - 1).abs().max().item<double>(), 1e-2) << "without the final norm features are not normalised";
}

TEST(HfRadio, KeyBiasIsIgnored) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-keybias");
  const auto images = test_images();
  auto features = [&] {
    const Group one = single_group();
    RadioEncoder enc(a, kLlmHidden, 5, one, at::kCPU, at::kFloat);
    load_hf_radio(enc, dir, a);
    at::NoGradGuard no_grad;
    return enc.features(pack(images, a.patch_size));
  };
  const at::Tensor before = features();
  edit_checkpoint(dir, [](std::map<std::string, SafeTensor>& t) {
    for (auto& v : t.at("encoder.layer.0.attention.attention.key.bias").values) v = 3.0f;
  });
  expect_close(features(), before, 1e-5, "features with a key bias");
  test::remove_flat_dir(dir);
}

TEST(HfRadio, MissingTensorNamesTheKey) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-missing");
  edit_checkpoint(dir, [](std::map<std::string, SafeTensor>& t) { t.erase("encoder.layer.1.mlp.fc2.bias"); });
  const std::string e = load_error(dir, a);
  EXPECT_NE(e.find("has no tensor 'encoder.layer.1.mlp.fc2.bias' (for our encoder.blocks.1.mlp.down_proj.bias)"),
            std::string::npos)
      << e;
  test::remove_flat_dir(dir);
}

TEST(HfRadio, WrongShapeNamesTheKeyAndShapes) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-shape");
  edit_checkpoint(dir, [](std::map<std::string, SafeTensor>& t) {
    SafeTensor& s = t.at("encoder.layer.0.mlp.fc1.weight");
    s.shape = {18, 8};
    s.values.resize(18 * 8);
  });
  const std::string e = load_error(dir, a);
  EXPECT_NE(e.find("encoder.blocks.0.mlp.up_proj.weight has shape [18, 8]"), std::string::npos) << e;
  EXPECT_NE(e.find("[16, 8]"), std::string::npos) << e;
  EXPECT_NE(e.find("checkpoint tensor 'encoder.layer.0.mlp.fc1.weight'"), std::string::npos) << e;
  test::remove_flat_dir(dir);
}

TEST(HfRadio, PositionTableSizeNamesTheFix) {
  EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-pos");
  edit_config(dir, [](nlohmann::json& c) { c.erase("max_img_size"); });  // only the tensor tells
  a.position_table_side = 6;
  const std::string e = load_error(dir, a);
  EXPECT_NE(e.find("embeddings.position_embedding has shape [1, 16, 8]"), std::string::npos) << e;
  EXPECT_NE(e.find("set --set model.encoder.position_table_side=4"), std::string::npos) << e;
  test::remove_flat_dir(dir);
}

TEST(HfRadio, ConfigMismatchNamesEveryKeyAndFix) {
  const EncoderArch a = small_cradio();
  const std::string dir = exported(a, HfRadioLayout::Native, "hf-radio-config");
  edit_config(dir, [](nlohmann::json& c) {
    c["num_attention_heads"] = 4;
    c["layer_norm_eps"] = 1e-5;
    c["hidden_act"] = "gelu_pytorch_tanh";
    c["num_cls_tokens"] = 1;
    c["num_registers"] = 2;
  });
  const std::string e = load_error(dir, a);
  for (const char* want :
       {"num_attention_heads=4 but model.encoder.num_attention_heads=2; set --set model.encoder.num_attention_heads=4",
        "layer_norm_eps=1e-05 but model.encoder.norm_eps=1e-06; set --set model.encoder.norm_eps=1e-05",
        "hidden_act=gelu_pytorch_tanh but model.encoder.mlp_activation=gelu; set --set "
        "model.encoder.mlp_activation=gelu_tanh",
        "num_cls_tokens=1 but model.encoder.num_cls_tokens=2; set --set model.encoder.num_cls_tokens=1"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  test::remove_flat_dir(dir);
}

TEST(HfRadio, ArchitectureAndConditionerMismatchNameTheFix) {
  const EncoderArch cradio = small_cradio();
  const std::string dir = exported(cradio, HfRadioLayout::Native, "hf-radio-arch");
  EncoderArch a = cradio;
  a.norm = "rmsnorm";
  a.final_norm = true;
  a.position_interpolation = "stretch";
  a.bias = false;
  a.pixel_mean.clear();
  a.pixel_std.clear();
  const std::string e = load_error(dir, a);
  for (const char* want : {"set --set model.encoder.norm=layernorm", "set --set model.encoder.final_norm=false",
                           "set --set model.encoder.position_interpolation=square_crop",
                           "set --set model.encoder.bias=true",
                           "set --set 'model.encoder.pixel_mean=[0.48145466, 0.4578275, 0.40821073]'"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  // Not a RADIO checkpoint at all.
  edit_checkpoint(dir, [](std::map<std::string, SafeTensor>& t) { t.erase("embeddings.patch_projection.weight"); });
  EXPECT_NE(load_error(dir, cradio).find("holds no RADIO patch embedding"), std::string::npos);
  EXPECT_NE(load_error("/nonexistent-hf-radio", cradio).find("found neither"), std::string::npos);
  test::remove_flat_dir(dir);
}

TEST(HfRadio, ExportRejectsWhatRadioModelCannotCompute) {
  EncoderArch a = small_cradio();
  a.norm = "rmsnorm";
  try {
    hf_radio_config(a);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("set --set model.encoder.norm=layernorm"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hetero
