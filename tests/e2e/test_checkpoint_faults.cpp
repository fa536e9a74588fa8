// Checkpoints under faults and bad input (design §8): a job killed while
// saving, a disk that fills, a checkpoint of another model, truncated or
// missing files, a manifest that lies, a `latest` that points nowhere. Each
// is refused or survived with one message naming the file and the fix.
#include <gtest/gtest.h>

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hetero/checkpoint_manifest.h"
#include "hetero/run_dir.h"
#include "process.h"

namespace hetero::test {
namespace {

namespace fs = std::filesystem;

ProcessResult launch(const std::string& out, int iters, const std::vector<std::string>& sets,
                     const std::vector<std::string>& trainer_args = {}) {
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
                                "--out", out, "--iters", std::to_string(iters)};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
  argv.push_back("--");
  argv.insert(argv.end(), trainer_args.begin(), trainer_args.end());
  return run(argv);
}

const std::vector<std::string> kEvery2 = {"train.save_interval=2", "train.keep_last=3"};

bool has(const ProcessResult& r, const std::string& text) {
  return r.err.find(text) != std::string::npos || r.out.find(text) != std::string::npos;
}

// Every rank's log of a local run, one after the other.
std::string rank_logs(const std::string& out) {
  std::string all;
  for (const auto& e : fs::directory_iterator(RunPaths{out}.logs_dir())) all += slurp(e.path().string());
  return all;
}

// A run of 6 iterations saved at 2, 4 and 6, for the refusal tests to spoil.
class SavedRun : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = fresh_dir("ckpt-saved");
    const ProcessResult r = launch(out_, 6, kEvery2);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(read_latest(paths().checkpoints_dir()), 6);
  }
  RunPaths paths() const { return RunPaths{out_}; }
  std::string ckpt(int iter) const { return paths().checkpoint_dir(iter); }
  // A resumed start to 8 iterations; refusals end with status 2 before training.
  ProcessResult resume(const std::vector<std::string>& sets = {}, const std::vector<std::string>& args = {}) {
    std::vector<std::string> all = kEvery2;
    all.insert(all.end(), sets.begin(), sets.end());
    return launch(out_, 8, all, args);
  }
  std::string out_;
};

TEST_F(SavedRun, CheckpointFolderHoldsTheFormatTheReadmeDescribes) {
  const std::string dir = ckpt(6);
  EXPECT_EQ(slurp(paths().checkpoint_latest()), "6\n");
  const CheckpointManifest m = read_manifest(dir);
  EXPECT_EQ(m.progress.iteration, 6);
  EXPECT_EQ(m.progress.consumed_samples, 6 * 8);  // tiny: global batch 8
  EXPECT_EQ(m.progress.next_sample_index, 6 * 8);
  EXPECT_EQ(m.world_size, 3);
  EXPECT_EQ(m.progress.optimizer_steps.at("llm"), 6);
  EXPECT_EQ(m.progress.optimizer_steps.at("encoder"), 6);
  EXPECT_NE(m.config_yaml.find("num_microbatches"), std::string::npos);
  check_checkpoint_files(dir, m);  // every file holds what the manifest says
  // Both modules, weights and both moments; each tensor once (tiny: llm dp=2
  // holds replicas, written by dp rank 0 only).
  std::map<std::string, int> pieces;
  for (const auto& p : m.pieces) ++pieces[p.tensor];
  EXPECT_EQ(pieces.at("llm.backbone.embeddings.weight"), 1);
  EXPECT_EQ(pieces.at("exp_avg/llm.backbone.embeddings.weight"), 1);
  EXPECT_EQ(pieces.at("exp_avg_sq/llm.backbone.norm_f.weight"), 1);
  bool encoder = false;
  for (const auto& [name, n] : pieces) encoder |= name.rfind("encoder.", 0) == 0;
  EXPECT_TRUE(encoder);
  // keep_last=3: 2, 4 and 6 are kept; nothing is left half-written.
  EXPECT_EQ(complete_checkpoints(paths().checkpoints_dir()), (std::vector<int>{2, 4, 6}));
  for (const auto& e : fs::directory_iterator(paths().checkpoints_dir()))
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
}

TEST_F(SavedRun, KeepLastDeletesOlderCheckpointsOnlyAfterANewerOneIsComplete) {
  const ProcessResult r = launch(out_, 10, {"train.save_interval=2", "train.keep_last=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(complete_checkpoints(paths().checkpoints_dir()), (std::vector<int>{10}));
  EXPECT_NE(r.out.find("deleted " + ckpt(8) + " (train.keep_last=1)"), std::string::npos) << r.out;
}

TEST_F(SavedRun, ACheckpointOfAnotherModelNamesTheTensorAndTheRecipeKey) {
  const ProcessResult r = resume({"model.llm.ffn_hidden_size=96"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, "was not made for this model")) << r.err;
  EXPECT_TRUE(has(r, ".mixer.up_proj.weight is [96, 32] here, [64, 32] in the checkpoint")) << r.err;
  EXPECT_TRUE(has(r, "model.llm.ffn_hidden_size: 96 here, 64 in the checkpoint")) << r.err;
  EXPECT_TRUE(has(r, "--resume none")) << r.err;
  EXPECT_EQ(read_metrics(paths().metrics()).size(), 6u) << "nothing trained";
}

TEST_F(SavedRun, ATruncatedRankFileIsRefusedNamingIt) {
  const std::string file = ckpt(6) + "/rank-00001.safetensors";
  fs::resize_file(file, fs::file_size(file) / 2);
  const ProcessResult r = resume();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, file)) << r.err;
  EXPECT_TRUE(has(r, "truncated or corrupt")) << r.err;
}

TEST_F(SavedRun, AMissingRankFileIsRefusedNamingIt) {
  const std::string file = ckpt(6) + "/rank-00000.safetensors";
  fs::remove(file);
  const ProcessResult r = resume();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, file + " is missing")) << r.err;
  EXPECT_TRUE(has(r, "--resume none")) << r.err;
}

TEST_F(SavedRun, AManifestThatDoesNotMatchTheFilesIsRefused) {
  const std::string path = checkpoint_manifest_path(ckpt(6));
  nlohmann::json m = nlohmann::json::parse(slurp(path));
  for (auto& t : m["tensors"])
    if (t["tensor"] == "llm.backbone.norm_f.weight") t["flat_end"] = t["flat_end"].get<int>() - 1;
  std::ofstream(path) << m.dump();
  const ProcessResult r = resume();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, "llm.backbone.norm_f.weight")) << r.err;
  EXPECT_TRUE(has(r, "but the manifest says F32 with 31 elements")) << r.err;
}

TEST_F(SavedRun, ALatestNamingAMissingFolderIsRefusedWithTheAlternatives) {
  fs::remove_all(ckpt(6));
  const ProcessResult r = resume();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, paths().checkpoint_latest() + " names iteration 6 but " + ckpt(6) + " is missing")) << r.err;
  EXPECT_TRUE(has(r, "--resume none")) << r.err;
  EXPECT_TRUE(has(r, "(N: 2, 4)")) << r.err;
  // The advice works: an older checkpoint resumes, and the rows after it go.
  const ProcessResult older = resume({}, {"--resume", ckpt(4)});
  ASSERT_EQ(older.exit_code, 0) << older.err;
  EXPECT_TRUE(has(older, "dropped 2 row(s) after iteration 4")) << older.out;
  const auto metrics = read_metrics(paths().metrics());
  ASSERT_EQ(metrics.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(metrics[i].iter, i + 1);
}

TEST(CheckpointFaults, SaveWeightsPastTheLastIterationIsAnError) {
  const ProcessResult r = launch(fresh_dir("ckpt-weights-past"), 4, {}, {"--save-weights-at", "2,9"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r, "--save-weights-at 9 is past the run's last iteration (4)")) << r.err;
}

// A rank killed while writing iteration 4's files: the job ends, `latest`
// still names 2, and a resumed start trains exactly as if nothing happened.
TEST(CheckpointFaults, ARankKilledMidSaveLeavesThePreviousCheckpointAsLatest) {
  const auto straight = [] {
    const std::string out = fresh_dir("ckpt-straight");
    EXPECT_EQ(launch(out, 6, kEvery2).exit_code, 0);
    return read_metrics(RunPaths{out}.metrics());
  }();
  const std::string out = fresh_dir("ckpt-killed");
  const RunPaths paths{out};
  const ProcessResult killed = launch(out, 6, kEvery2, {"--kill-during-save-at", "4"});
  EXPECT_NE(killed.exit_code, 0) << killed.err;
  EXPECT_EQ(read_latest(paths.checkpoints_dir()), 2);
  EXPECT_TRUE(fs::exists(paths.checkpoint_partial_dir(4)));
  EXPECT_FALSE(fs::exists(paths.checkpoint_dir(4)));
  // The previous checkpoint loads; the half-written one is cleared away.
  const ProcessResult resumed = launch(out, 6, kEvery2);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(has(resumed, "resumed from " + paths.checkpoint_dir(2))) << resumed.out;
  const auto metrics = read_metrics(paths.metrics());
  ASSERT_EQ(metrics.size(), 6u);
  ASSERT_EQ(straight.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(metrics[i].iter, i + 1);
    EXPECT_EQ(metrics[i].lm_loss, straight[i].lm_loss) << "iteration " << i + 1;
    EXPECT_EQ(metrics[i].grad_norm, straight[i].grad_norm) << "iteration " << i + 1;
  }
  EXPECT_EQ(read_latest(paths.checkpoints_dir()), 6);
}

// A checkpoint folder on a file system with room for one checkpoint: the
// second save fails with the path and the reason, the first stays latest.
TEST(CheckpointFaults, ADiskThatFillsEndsTheJobAndKeepsThePreviousCheckpoint) {
  const std::string out = fresh_dir("ckpt-full");
  const RunPaths paths{out};
  // How large one checkpoint of this job is.
  {
    const std::string probe = fresh_dir("ckpt-size");
    ASSERT_EQ(launch(probe, 2, kEvery2).exit_code, 0);
    std::uintmax_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(RunPaths{probe}.checkpoint_dir(2)))
      if (e.is_regular_file()) bytes += e.file_size();
    fs::create_directories(paths.checkpoints_dir());
    const std::string size = "size=" + std::to_string(bytes + bytes / 2);
    if (mount("tmpfs", paths.checkpoints_dir().c_str(), "tmpfs", 0, size.c_str()) != 0)
      GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { umount(dir.c_str()); }
  } unmount{paths.checkpoints_dir()};
  const ProcessResult r = launch(out, 6, kEvery2);
  EXPECT_NE(r.exit_code, 0);
  const std::string logs = rank_logs(out);
  EXPECT_NE(logs.find("saving checkpoint " + paths.checkpoint_partial_dir(4) + " failed"), std::string::npos) << logs;
  EXPECT_NE(logs.find("No space left on device"), std::string::npos) << logs;
  EXPECT_NE(logs.find("the previous complete checkpoint stays as latest"), std::string::npos) << logs;
  EXPECT_EQ(read_latest(paths.checkpoints_dir()), 2);
  EXPECT_NO_THROW(check_checkpoint_files(paths.checkpoint_dir(2), read_manifest(paths.checkpoint_dir(2))));
}

}  // namespace
}  // namespace hetero::test
