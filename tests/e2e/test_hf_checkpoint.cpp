// Hugging Face NemotronH checkpoints (issue 3): a trained tiny model
// exported by hetero-hf llm-export loads into other layouts (tp=2, pp=2,
// ep=2, ep=2 x etp=2) through hetero-train --llm-init-from-hf with every
// tensor exactly as exported, trains there as in one process, exports back
// to identical files, and gives the same logits as its snapshot; a
// checkpoint that does not fit the recipe fails at the border, naming what
// differs. (That transformers computes the same logits is
// scripts/gpu_hf_llm_check.sh's.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "hetero/run_dir.h"
#include "hetero/safetensors.h"
#include "process.h"

namespace hetero::test {
namespace {

namespace fs = std::filesystem;

using Tensors = std::map<std::string, SafeTensor>;

const std::vector<std::string> kSingle{"mode=colocated", "llm.ranks=1", "gpus_per_node=1"};

// hetero-launch local, tiny scale with `sets` under scales.tiny, then
// hetero-train's own flags.
std::string train(const std::string& recipe_name, const std::string& tag, const std::vector<std::string>& sets,
                  int iters, const std::vector<std::string>& trainer_args) {
  const std::string out = fresh_dir(tag);
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe(recipe_name), "--scale", "tiny",
                                "--out", out, "--iters", std::to_string(iters)};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", "scales.tiny." + s});
  argv.push_back("--");
  argv.insert(argv.end(), trainer_args.begin(), trainer_args.end());
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << recipe_name << " " << tag << ":\n" << r.out << r.err;
  return out;
}

ProcessResult hf_tool(const std::string& command, const std::string& recipe_name, std::vector<std::string> args) {
  std::vector<std::string> argv{bin("hetero-hf"), command, "--recipe", recipe(recipe_name), "--scale", "tiny"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::string export_hf(const std::string& recipe_name, const std::string& run_dir, int iter,
                      const std::vector<std::string>& extra = {}) {
  const std::string out = fresh_dir("hf-export") + "/checkpoint";
  std::vector<std::string> args{"--run", run_dir, "--iter", std::to_string(iter), "--out", out};
  args.insert(args.end(), extra.begin(), extra.end());
  const ProcessResult r = hf_tool("llm-export", recipe_name, args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return out;
}

// The LLM tensors of RUN/weights/iter-N, from every file of it.
Tensors llm_snapshot(const std::string& run_dir, int iter) {
  Tensors all;
  const std::string dir = fs::path(RunPaths{run_dir}.weights_file(iter, "llm", 0)).parent_path().string();
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().filename().string().rfind("llm-", 0) != 0) continue;
    for (auto& [name, t] : read_safetensors(f.path().string()).tensors)
      EXPECT_TRUE(all.emplace(name, t).second) << name << " twice in " << dir;
  }
  return all;
}

// Every tensor of a checkpoint folder's model*.safetensors files.
Tensors hf_tensors(const std::string& dir) {
  Tensors all;
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    if (name.rfind("model", 0) != 0 || f.path().extension() != ".safetensors") continue;
    for (auto& [tensor, t] : read_safetensors(f.path().string()).tensors) all.emplace(tensor, t);
  }
  return all;
}

void expect_same(const Tensors& got, const Tensors& want, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  for (const auto& [name, t] : want) {
    const auto it = got.find(name);
    ASSERT_NE(it, got.end()) << what << " lacks " << name;
    EXPECT_EQ(it->second.shape, t.shape) << what << " " << name;
    EXPECT_TRUE(it->second.values == t.values) << what << ": " << name << " differs";
  }
}

void expect_same_losses(const std::string& a, const std::string& b, int iters, const std::string& what) {
  const auto ra = read_metrics(RunPaths{a}.metrics()), rb = read_metrics(RunPaths{b}.metrics());
  ASSERT_EQ(ra.size(), static_cast<size_t>(iters)) << what;
  ASSERT_EQ(rb.size(), static_cast<size_t>(iters)) << what;
  for (int i = 0; i < iters; ++i) {
    EXPECT_LE(std::fabs(ra[i].lm_loss - rb[i].lm_loss), 1e-5 * std::fabs(rb[i].lm_loss))
        << what << " iteration " << i + 1 << ": lm loss " << ra[i].lm_loss << " vs " << rb[i].lm_loss;
    EXPECT_LE(std::fabs(ra[i].grad_norm - rb[i].grad_norm), 1e-5 * std::fabs(rb[i].grad_norm))
        << what << " iteration " << i + 1 << ": grad norm " << ra[i].grad_norm << " vs " << rb[i].grad_norm;
  }
}

// Writes `dir`'s model.safetensors again with `edit` applied to its tensors.
void rewrite_weights(const std::string& dir, const std::function<void(Tensors&)>& edit) {
  SafeTensorFile f = read_safetensors(dir + "/model.safetensors");
  edit(f.tensors);
  write_safetensors(dir + "/model.safetensors", f.tensors, f.metadata);
}

std::string copy_checkpoint(const std::string& from) {
  const std::string to = fresh_dir("hf-copy") + "/checkpoint";
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

// The snapshot of a trained run, exported; then runs in other layouts
// starting from the export: each one's weights at initialisation are the
// export's, bit for bit.
struct Exported {
  std::string trained;  // the single-process run (--save-weights-at kIter)
  std::string hf;       // its export, fp32
};
constexpr int kIter = 2;

Exported trained_and_exported(const std::string& recipe_name) {
  Exported e;
  e.trained = train(recipe_name, recipe_name + "-trained", kSingle, kIter, {"--save-weights-at", std::to_string(kIter)});
  e.hf = export_hf(recipe_name, e.trained, kIter);
  return e;
}

std::string from_hf(const std::string& recipe_name, const std::string& hf, const std::string& tag,
                    const std::vector<std::string>& sets, int iters) {
  return train(recipe_name, tag, sets, iters, {"--llm-init-from-hf", hf, "--save-weights-at", "0"});
}

const std::vector<std::string> kTp2{"encoder.ranks=1", "llm.ranks=2", "llm.tp=2", "gpus_per_node=3"};
const std::vector<std::string> kPp2{"encoder.ranks=1", "llm.ranks=2", "llm.pp=2", "gpus_per_node=3"};
const std::vector<std::string> kEp2{"encoder.ranks=1", "llm.ranks=2", "llm.ep=2", "gpus_per_node=3"};
const std::vector<std::string> kEp2Etp2{"encoder.ranks=1", "llm.ranks=4", "llm.ep=2", "llm.etp=2", "gpus_per_node=5"};

TEST(HfCheckpoint, Nemotron20lLoadsIntoOtherLayoutsExactly) {
  const Exported e = trained_and_exported("nemotron_20l");
  const Tensors want = llm_snapshot(e.trained, kIter);
  // The Mamba-2 in_proj / conv1d rows are stored permuted: the export is in
  // HF's order, not ours (and the rest is ours unchanged).
  const Tensors hf = hf_tensors(e.hf);
  EXPECT_FALSE(hf.at("backbone.layers.0.mixer.in_proj.weight").values ==
               want.at("llm.backbone.layers.0.mixer.in_proj.weight").values);
  EXPECT_TRUE(hf.at("lm_head.weight").values == want.at("llm.lm_head.weight").values);

  constexpr int kIters = 3;
  const std::string single = from_hf("nemotron_20l", e.hf, "20l-hf-single", kSingle, kIters);
  const std::string tp2 = from_hf("nemotron_20l", e.hf, "20l-hf-tp2", kTp2, kIters);
  // Sharded files load the same.
  const std::string sharded = export_hf("nemotron_20l", e.trained, kIter, {"--max-shard-mb", "0.02"});
  ASSERT_TRUE(fs::exists(sharded + "/model.safetensors.index.json"));
  ASSERT_FALSE(fs::exists(sharded + "/model.safetensors"));
  const std::string pp2 = from_hf("nemotron_20l", sharded, "20l-hf-pp2", kPp2, 1);
  expect_same(llm_snapshot(single, 0), want, "single process from HF");
  expect_same(llm_snapshot(tp2, 0), want, "tp=2 from HF");
  expect_same(llm_snapshot(pp2, 0), want, "pp=2 from sharded HF");
  expect_same_losses(tp2, single, kIters, "20l tp=2 vs one process, from HF");
}

TEST(HfCheckpoint, Nemotron54lLoadsIntoExpertLayoutsExactly) {
  const Exported e = trained_and_exported("nemotron_54l");
  // Training leaves the score-correction biases at zero: give them values,
  // so that loading them (and routing with them) is tested too.
  rewrite_weights(e.hf, [](Tensors& t) {
    for (auto& [name, tensor] : t)
      if (name.find("e_score_correction_bias") != std::string::npos)
        for (size_t i = 0; i < tensor.values.size(); ++i) tensor.values[i] = 0.05f * static_cast<float>(i % 3) - 0.04f;
  });
  Tensors want = llm_snapshot(e.trained, kIter);
  int biases = 0;
  for (auto& [name, t] : hf_tensors(e.hf))
    if (name.find("e_score_correction_bias") != std::string::npos) {
      want.at("llm." + name) = t;
      ++biases;
    }
  EXPECT_EQ(biases, 2);  // "ME*E"

  constexpr int kIters = 3;
  const std::string single = from_hf("nemotron_54l", e.hf, "54l-hf-single", kSingle, kIters);
  const std::string tp2 = from_hf("nemotron_54l", e.hf, "54l-hf-tp2", kTp2, kIters);
  const std::string ep2 = from_hf("nemotron_54l", e.hf, "54l-hf-ep2", kEp2, kIters);
  const std::string ep2etp2 = from_hf("nemotron_54l", e.hf, "54l-hf-ep2-etp2", kEp2Etp2, 1);
  expect_same(llm_snapshot(single, 0), want, "single process from HF");
  expect_same(llm_snapshot(tp2, 0), want, "tp=2 from HF");
  expect_same(llm_snapshot(ep2, 0), want, "ep=2 from HF");
  expect_same(llm_snapshot(ep2etp2, 0), want, "ep=2 x etp=2 from HF");
  expect_same_losses(tp2, single, kIters, "54l tp=2 vs one process, from HF");
  expect_same_losses(ep2, single, kIters, "54l ep=2 vs one process, from HF");

  // export -> import -> export: the same files, byte for byte.
  const std::string again = export_hf("nemotron_54l", ep2, 0);
  EXPECT_EQ(slurp(again + "/model.safetensors"), slurp(e.hf + "/model.safetensors"));
  EXPECT_EQ(slurp(again + "/config.json"), slurp(e.hf + "/config.json"));
}

TEST(HfCheckpoint, ExportImportExportGivesIdenticalFiles) {
  const Exported e = trained_and_exported("nemotron_20l");
  const std::string loaded = from_hf("nemotron_20l", e.hf, "20l-hf-reload", kSingle, 1);
  const std::string again = export_hf("nemotron_20l", loaded, 0);
  EXPECT_EQ(slurp(again + "/model.safetensors"), slurp(e.hf + "/model.safetensors"));
  EXPECT_EQ(slurp(again + "/config.json"), slurp(e.hf + "/config.json"));
  // bf16: every value rounded, the correction bias kept in fp32 (as transformers keeps it).
  const std::string bf16 = export_hf("nemotron_20l", e.trained, kIter, {"--dtype", "bf16"});
  const SafeTensorReader r(bf16 + "/model.safetensors");
  EXPECT_EQ(r.tensors().at("lm_head.weight").dtype, "BF16");
  EXPECT_EQ(r.metadata().at("format"), "pt");
}

// A trained model leaves in Hugging Face format from its training
// checkpoint too: saved by an ep=2 x etp=2 job (experts in pieces on four
// ranks), the export equals the one from the weight snapshot of the same
// iteration, byte for byte; so does the encoder's RADIO export.
TEST(HfCheckpoint, ExportsFromATrainingCheckpointEqualTheSnapshotExports) {
  std::vector<std::string> sets = kEp2Etp2;
  sets.push_back("train.save_interval=2");
  const std::string run = train("nemotron_54l", "54l-ckpt-export", sets, kIter, {"--save-weights-at", "2"});
  const std::string ckpt = RunPaths{run}.checkpoint_dir(kIter);
  const std::string from_snapshot = export_hf("nemotron_54l", run, kIter);
  const std::string from_ckpt = fresh_dir("hf-export-ckpt") + "/checkpoint";
  const ProcessResult r = hf_tool("llm-export", "nemotron_54l", {"--checkpoint", ckpt, "--out", from_ckpt});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(slurp(from_ckpt + "/model.safetensors"), slurp(from_snapshot + "/model.safetensors"));
  EXPECT_EQ(slurp(from_ckpt + "/config.json"), slurp(from_snapshot + "/config.json"));

  const std::string radio_dir = fresh_dir("radio-export");
  const ProcessResult a = hf_tool("radio-export", "nemotron_54l", {"--checkpoint", ckpt, "--out", radio_dir + "/a"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  const std::string snapshot = RunPaths{run}.weights_file(kIter, "encoder", 0);
  const ProcessResult b = hf_tool("radio-export", "nemotron_54l", {"--weights", snapshot, "--out", radio_dir + "/b"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_EQ(slurp(radio_dir + "/a/model.safetensors"), slurp(radio_dir + "/b/model.safetensors"));
}

// llm-logits on the export equals llm-logits on the snapshot it came from,
// exactly: the same weights in the same forward.
void expect_same_logits(const std::string& recipe_name) {
  const Exported e = trained_and_exported(recipe_name);
  const std::string dir = fresh_dir("logits");
  const std::string tokens = "5,17,3,9,60,2,2,41,33,8,1,63;12,12,7,30,4,19,55,6,23,3,14,9";
  const ProcessResult a = hf_tool("llm-logits", recipe_name, {"--hf", e.hf, "--tokens", tokens, "--out", dir + "/a.st"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  const ProcessResult b = hf_tool("llm-logits", recipe_name, {"--run", e.trained, "--iter", std::to_string(kIter),
                                                               "--tokens", tokens, "--out", dir + "/b.st"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  const SafeTensor la = read_safetensors(dir + "/a.st").tensors.at("logits");
  const SafeTensor lb = read_safetensors(dir + "/b.st").tensors.at("logits");
  EXPECT_EQ(la.shape, (std::vector<int64_t>{2, 12, 64}));
  EXPECT_TRUE(la.values == lb.values) << recipe_name << ": logits from the export differ from the snapshot's";
  double max_abs = 0;
  for (float v : la.values) max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
  EXPECT_GT(max_abs, 1e-3) << "logits are all about zero";
}

TEST(HfCheckpoint, Nemotron20lLogitsOfExportEqualSnapshot) { expect_same_logits("nemotron_20l"); }
TEST(HfCheckpoint, Nemotron54lLogitsOfExportEqualSnapshot) { expect_same_logits("nemotron_54l"); }

// A checkpoint that does not fit: every difference is named at the border.
TEST(HfCheckpoint, MismatchesAreNamed) {
  const Exported e = trained_and_exported("nemotron_54l");
  const std::string dir = fresh_dir("mismatch");
  auto logits = [&](const std::string& hf, const std::vector<std::string>& sets) {
    std::vector<std::string> args{"--hf", hf, "--tokens", "1,2,3", "--out", dir + "/l.st"};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    return hf_tool("llm-logits", "nemotron_54l", args);
  };
  // The recipe's width differs from config.json's.
  ProcessResult r = logits(e.hf, {"model.llm.ssm_state_size=16", "model.llm.num_experts_per_tok=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ssm_state_size=8 but the recipe has model.llm.ssm_state_size=16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("num_experts_per_tok=2 but the recipe has model.llm.num_experts_per_tok=1"), std::string::npos)
      << r.err;
  // The same through hetero-train.
  const std::string out = fresh_dir("mismatch-train");
  r = run({bin("hetero-launch"), "local", "--recipe", recipe("nemotron_54l"), "--scale", "tiny", "--out", out,
           "--iters", "1", "--set", "model.llm.ssm_state_size=16", "--", "--llm-init-from-hf", e.hf});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("ssm_state_size=8 but the recipe has model.llm.ssm_state_size=16"),
            std::string::npos)
      << r.out << r.err;

  // A setting our forward does not compute.
  const std::string eps = copy_checkpoint(e.hf);
  std::string config = slurp(eps + "/config.json");
  const auto at = config.find("\"layer_norm_epsilon\": 1e-05");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, std::string("\"layer_norm_epsilon\": 1e-05").size(), "\"layer_norm_epsilon\": 1e-06");
  std::ofstream(eps + "/config.json") << config;
  r = logits(eps, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("layer_norm_epsilon=1e-06"), std::string::npos) << r.err;

  // A missing tensor, and one the model has no place for.
  const std::string holes = copy_checkpoint(e.hf);
  rewrite_weights(holes, [](Tensors& t) {
    t.erase("backbone.layers.0.mixer.A_log");
    t["backbone.layers.1.mixer.extra.weight"] = t.at("backbone.norm_f.weight");
  });
  r = logits(holes, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("lacks 1 tensor(s) of the model: backbone.layers.0.mixer.A_log"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no place for: backbone.layers.1.mixer.extra.weight"), std::string::npos) << r.err;

  // Multi-token-prediction layers are skipped, as transformers skips them, and said so.
  const std::string mtp = copy_checkpoint(e.hf);
  rewrite_weights(mtp, [](Tensors& t) { t["mtp.layers.0.norm.weight"] = t.at("backbone.norm_f.weight"); });
  r = logits(mtp, {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 multi-token-prediction tensor(s) (mtp.layers.0.norm.weight)"), std::string::npos) << r.out;

  // Export of a snapshot that was not taken.
  r = hf_tool("llm-export", "nemotron_54l", {"--run", e.trained, "--iter", "7", "--out", dir + "/never"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("iter-000007"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--save-weights-at 7"), std::string::npos) << r.err;

  // One NaN in a weight: refused at load, naming the tensor (it used to
  // train for ever, skipping every step, and exit 0).
  const std::string nan = copy_checkpoint(e.hf);
  rewrite_weights(nan, [](Tensors& t) { t.at("backbone.norm_f.weight").values[3] = std::nanf(""); });
  r = run({bin("hetero-launch"), "local", "--recipe", recipe("nemotron_54l"), "--scale", "tiny", "--out",
           fresh_dir("nan-train"), "--iters", "2", "--", "--llm-init-from-hf", nan});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("tensor llm.backbone.norm_f.weight holds 1 non-finite value(s) (the first, at flat index 3, is NaN"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hetero::test
