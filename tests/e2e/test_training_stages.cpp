// Training stages (train.freeze): stage 1 trains only the projector and
// leaves the ViT and the LLM bit-identical; a frozen part takes no
// optimizer state and the bridge carries no gradients to a frozen encoder;
// a staged hetero run still equals one process.
#include <gtest/gtest.h>

#include <cmath>

#include "hetero/run_dir.h"
#include "hetero/safetensors.h"
#include "process.h"

namespace hetero::test {
namespace {

struct StagedRun {
  std::string dir;
  ProcessResult result;
  std::vector<IterationMetrics> metrics;
};

// tiny (1 encoder rank feeding 2 LLM lanes) for 5 iterations, weights saved
// at initialisation and after iteration 5.
StagedRun train(const std::string& name, const std::vector<std::string>& sets) {
  StagedRun r{fresh_dir(name), {}, {}};
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
                                "--out", r.dir, "--iters", "5"};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
  argv.insert(argv.end(), {"--", "--save-weights-at", "0,5"});
  r.result = run(argv);
  EXPECT_EQ(r.result.exit_code, 0) << name << "\n" << r.result.out << r.result.err;
  r.metrics = read_metrics(RunPaths{r.dir}.metrics());
  return r;
}

// Names of the tensors whose values differ between iteration 0 and 5.
std::vector<std::string> changed(const StagedRun& r, const std::string& module) {
  const RunPaths p{r.dir};
  const SafeTensorFile before = read_safetensors(p.weights_file(0, module, 0));
  const SafeTensorFile after = read_safetensors(p.weights_file(5, module, 0));
  EXPECT_EQ(before.tensors.size(), after.tensors.size());
  std::vector<std::string> out;
  for (const auto& [name, t] : before.tensors)
    if (after.tensors.at(name).values != t.values) out.push_back(name);
  return out;
}

bool all_start_with(const std::vector<std::string>& names, const std::string& prefix) {
  for (const auto& n : names)
    if (n.rfind(prefix, 0) != 0) return false;
  return !names.empty();
}

TEST(TrainingStages, Stage1ChangesOnlyTheProjector) {
  const StagedRun r = train("stage1", {"train.freeze=[vision, llm]"});
  EXPECT_TRUE(all_start_with(changed(r, "encoder"), "projector.")) << "the ViT changed";
  EXPECT_TRUE(changed(r, "llm").empty()) << "the LLM changed";
  // Every projector tensor learned something.
  const auto enc = changed(r, "encoder");
  EXPECT_EQ(enc.size(), 3u);  // projector.norm, fc1, fc2
  EXPECT_NE(r.result.out.find("training projector; frozen (no gradients, no optimizer state): vision, llm"),
            std::string::npos)
      << r.result.out;
}

TEST(TrainingStages, Stage2ChangesEveryPart) {
  const StagedRun r = train("stage2", {});
  const auto enc = changed(r, "encoder");
  bool vit = false, projector = false;
  for (const auto& n : enc) (n.rfind("projector.", 0) == 0 ? projector : vit) = true;
  EXPECT_TRUE(vit);
  EXPECT_TRUE(projector);
  EXPECT_FALSE(changed(r, "llm").empty());
}

TEST(TrainingStages, FrozenEncoderGetsNoGradientsOverTheBridge) {
  const StagedRun r = train("llm-only", {"train.freeze=[vision, projector]"});
  EXPECT_TRUE(changed(r, "encoder").empty());
  EXPECT_FALSE(changed(r, "llm").empty());
  ASSERT_EQ(r.metrics.size(), 5u);
  for (const auto& m : r.metrics) EXPECT_EQ(m.bridge_wait_ms, 0.0) << "iteration " << m.iter;  // never waits for gradients
}

TEST(TrainingStages, Stage1HeteroEqualsOneProcess) {
  const StagedRun hetero = train("stage1-hetero", {"train.freeze=[vision, llm]"});
  const StagedRun single = train("stage1-single", {"train.freeze=[vision, llm]", "scales.tiny.mode=colocated",
                                             "scales.tiny.llm.ranks=1", "scales.tiny.gpus_per_node=1"});
  ASSERT_EQ(hetero.metrics.size(), single.metrics.size());
  for (size_t i = 0; i < single.metrics.size(); ++i) {
    EXPECT_NEAR(hetero.metrics[i].lm_loss, single.metrics[i].lm_loss, 1e-5 * single.metrics[i].lm_loss);
    EXPECT_NEAR(hetero.metrics[i].grad_norm, single.metrics[i].grad_norm, 1e-5 * single.metrics[i].grad_norm);
  }
}

TEST(TrainingStages, FreezingEverythingOrAnUnknownPartIsRejected) {
  const ProcessResult all = run({bin("hetero-launch"), "plan", "--recipe", recipe("nemotron_20l"), "--set",
                                 "train.freeze=[vision, projector, llm]"});
  EXPECT_NE(all.exit_code, 0);
  EXPECT_NE(all.err.find("nothing would train"), std::string::npos) << all.err;
  const ProcessResult bad =
      run({bin("hetero-launch"), "plan", "--recipe", recipe("nemotron_20l"), "--set", "train.freeze=[vit]"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("train.freeze names 'vit', which is not one of vision, projector, llm"), std::string::npos)
      << bad.err;
}

}  // namespace
}  // namespace hetero::test
