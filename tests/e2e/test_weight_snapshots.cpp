// --save-weights-at writes every tensor of the model once, under its global
// name and full shape, whatever the layout: tp shards are joined, and MoE
// experts (spread over ep, split over etp) land in one file per ep rank.
// Initial weights depend only on (seed, name), so at iteration 0 every
// layout's files together equal the single process's, value for value.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "hetero/run_dir.h"
#include "hetero/safetensors.h"
#include "process.h"

namespace hetero::test {
namespace {

// Every tensor in RUN/weights/iter-000000, by name; a name found twice fails.
std::map<std::string, SafeTensor> snapshot(const std::string& name, const std::vector<std::string>& sets) {
  const std::string out = fresh_dir(name);
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_54l"), "--scale",
                                "tiny", "--out", out, "--iters", "1"};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", "scales.tiny." + s});
  argv.insert(argv.end(), {"--", "--save-weights-at", "0"});
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.err;
  std::map<std::string, SafeTensor> all;
  for (const auto& f : std::filesystem::directory_iterator(RunPaths{out}.weights_dir() + "/iter-000000"))
    for (auto& [tensor, t] : read_safetensors(f.path().string()).tensors)
      EXPECT_TRUE(all.emplace(tensor, t).second) << tensor << " written twice (" << f.path() << ")";
  return all;
}

void expect_same_weights(const std::map<std::string, SafeTensor>& got, const std::map<std::string, SafeTensor>& want,
                         const std::string& layout) {
  EXPECT_EQ(got.size(), want.size()) << layout;
  for (const auto& [name, t] : want) {
    const auto it = got.find(name);
    ASSERT_NE(it, got.end()) << layout << " lacks " << name;
    EXPECT_EQ(it->second.shape, t.shape) << layout << " " << name;
    EXPECT_EQ(it->second.values, t.values) << layout << " " << name;
  }
}

const std::vector<std::string> kSingle{"mode=colocated", "llm.ranks=1", "gpus_per_node=1"};

TEST(WeightSnapshots, ExpertParallelLayoutsWriteEveryTensorOnce) {
  const auto single = snapshot("w-single", kSingle);
  int experts = 0;
  for (const auto& [name, t] : single) experts += name.find(".experts.") != std::string::npos;
  EXPECT_EQ(experts, 2 * 4 * 2);  // 2 E layers x 4 experts x (up, down)
  expect_same_weights(snapshot("w-ep2", {"llm.ranks=2", "llm.ep=2", "gpus_per_node=3"}), single, "ep=2");
  expect_same_weights(snapshot("w-ep2-etp2", {"llm.ranks=4", "llm.ep=2", "llm.etp=2", "gpus_per_node=5"}), single,
                      "ep=2 x etp=2");
  expect_same_weights(snapshot("w-tp2", {"llm.ranks=2", "llm.tp=2", "gpus_per_node=3"}), single, "tp=2");
}

}  // namespace
}  // namespace hetero::test
