// The hetero-parity binary as a user runs it: exit codes, messages, output
// files, and `run` driven through a stand-in hetero-launch.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixtures.h"

using parity_test::run_parity;
using parity_test::TempDir;
namespace fs = std::filesystem;

namespace {

double loss(int i) { return 9.0 - 0.5 * i; }

// Runs a/b: 3 iterations, dumps at 1 and 2; `loss_delta` planted in A at
// iteration 2, `theta` rotates row 0 of vision_proj.9 in A at iteration 2.
void make_runs(const std::string& a, const std::string& b, double loss_delta, double theta) {
  std::vector<hetero::IterationMetrics> ma, mb;
  for (int i = 1; i <= 3; ++i) {
    mb.push_back(parity_test::metrics(i, loss(i), 1.0 + i, 1e-3));
    ma.push_back(parity_test::metrics(i, loss(i) * (i == 2 ? 1 + loss_delta : 1.0), 1.0 + i, 1e-3));
  }
  parity_test::write_metrics(a, ma);
  parity_test::write_metrics(b, mb);
  for (int it : {1, 2}) {
    std::map<std::string, hetero::SafeTensor> d;
    for (int j = 0; j < 2; ++j) {
      const int s = it * 4 + j + 1;
      d["vision_proj." + std::to_string(s)] = parity_test::pattern_tensor(3, 8, s);
      d["combined_embeddings." + std::to_string(s)] = parity_test::pattern_tensor(6, 8, 50 + s);
    }
    parity_test::write_dump(b, it, d);
    if (it == 2) {
      auto& t = d.at("vision_proj.9");
      parity_test::set_row(t, 0, parity_test::rotate(parity_test::row(t, 0), theta));
    }
    parity_test::write_dump(a, it, d);
  }
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') + 1);
}

}  // namespace

TEST(Cli, HelpAndUsage) {
  auto r = run_parity({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("usage: hetero-parity"), std::string::npos);
  r = run_parity({"diff", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("An iteration of A missing in B is a violation"), std::string::npos) << r.out;
  r = run_parity({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, IdenticalRunsPass) {
  TempDir tmp;
  make_runs(tmp / "a", tmp / "b", 0.0, 0.0);
  const auto r = run_parity({"diff", tmp / "a", tmp / "b"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(last_line(r.out).substr(0, 5), "PASS:") << r.out;
}

TEST(Cli, PlantedViolationsExitOneNamingIterationAndTensor) {
  TempDir tmp;
  make_runs(tmp / "a", tmp / "b", 1e-3, 0.1);
  auto r = run_parity({"diff", tmp / "a", tmp / "b"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(
      last_line(r.out),
      "FAIL: first bad iteration 2: lm loss rel diff +1.000e-03 exceeds rtol 1e-05; first bad tensor vision_proj.9 "
      "at iteration 2: row 0 cosine 0.9950042 < 0.99999 (2 violations)")
      << r.out;

  // Tolerances above both planted deltas pass; between, only the cosine fails.
  r = run_parity({"diff", tmp / "a", tmp / "b", "--loss-rtol", "2e-3", "--cos-min", "0.99"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = run_parity({"diff", tmp / "a", tmp / "b", "--preset", "bf16"});  // 2e-2 and 0.999
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(
      last_line(r.out).find("FAIL: first bad iteration 2: vision_proj: 1 of 2 tensors have a row with cosine < 0.999;"),
      std::string::npos)
      << r.out;
}

TEST(Cli, JsonMarkdownAndSvgOutputs) {
  TempDir tmp;
  make_runs(tmp / "a", tmp / "b", 1e-3, 0.1);
  // bare --json before the runs: JSON on stdout, the verdict on stderr
  auto r = run_parity({"diff", "--json", tmp / "a", tmp / "b"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["first_bad_iteration"], 2);
  EXPECT_EQ(j["first_bad_tensor"]["tensor"], "vision_proj.9");
  EXPECT_NEAR(j["iterations"][1]["lm_loss_rel_diff"].get<double>(), 1e-3, 1e-12);
  EXPECT_EQ(j["iterations"][1]["lr_equal"], true);
  EXPECT_NEAR(j["embeddings"]["families"][2]["min_cosine"].get<double>(), std::cos(0.1), 1e-6);
  EXPECT_EQ(j["embeddings"]["families"][2]["min_tensor"], "vision_proj.9");
  EXPECT_EQ(j["embeddings"]["families"][2]["min_row"], 0);
  EXPECT_NE(r.err.find("FAIL: first bad iteration 2"), std::string::npos) << r.err;

  r = run_parity(
      {"diff", tmp / "a", tmp / "b", "--json", tmp / "r.json", "--markdown", tmp / "r.md", "--svg", tmp / "r.svg"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("FAIL:"), std::string::npos) << "the text table still goes to stdout";
  EXPECT_EQ(nlohmann::json::parse(parity_test::read_text(tmp / "r.json"))["first_bad_iteration"], 2);
  EXPECT_NE(parity_test::read_text(tmp / "r.md").find("## hetero-parity: FAIL"), std::string::npos);
  EXPECT_EQ(parity_test::read_text(tmp / "r.svg").rfind("<?xml", 0), 0u);

  // The report never overwrites an input.
  r = run_parity({"diff", tmp / "a/metrics.jsonl", tmp / "b", "--json", tmp / "a/metrics.jsonl"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("is one of the inputs"), std::string::npos) << r.err;
}

TEST(Cli, InputAndUsageErrorsExitTwo) {
  TempDir tmp;
  make_runs(tmp / "a", tmp / "b", 0, 0);
  auto r = run_parity({"diff", tmp / "a", tmp / "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(tmp / "nope"), std::string::npos) << r.err;
  r = run_parity({"diff", tmp / "a"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("diff needs two inputs, got only " + tmp / "a"), std::string::npos) << r.err;
  r = run_parity({"diff", tmp / "a", tmp / "b", "--no-such-flag"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_parity({"diff", tmp / "a", tmp / "b", "--cos-min", "1.5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--cos-min=1.5: a cosine lies in [-1, 1]"), std::string::npos) << r.err;
  r = run_parity({"diff", tmp / "a", tmp / "b", "--preset", "fp8"});
  EXPECT_EQ(r.exit_code, 2);
  // A corrupt dump is an input error naming the file.
  parity_test::write_text(hetero::RunPaths{tmp / "b"}.embeddings_file(2), "garbage!garbage!");
  r = run_parity({"diff", tmp / "a", tmp / "b"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("iter-000002.safetensors"), std::string::npos) << r.err;
}

TEST(Cli, MegatronLogAgainstMetricsJsonl) {
  TempDir tmp;
  make_runs(tmp / "a", tmp / "b", 0, 0);
  std::string log = "some preamble\n";
  for (int i : {1, 2}) {
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  " [2024-01-01 00:00:0%d] iteration %8d/%8d | consumed samples: %12d | learning rate: %.6E | "
                  "global batch size: %5d | lm loss: %.6E | loss scale: 1.0 | grad norm: %.3f | "
                  "number of skipped iterations: %3d | number of nan iterations: %3d |\n",
                  i, i, 3, 8 * i, 1e-3, 8, loss(i), 1.0 + i, 0, 0);
    log += buf;
  }
  parity_test::write_text(tmp / "megatron.log", log);
  auto r = run_parity({"diff", tmp / "a/metrics.jsonl", tmp / "megatron.log"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("missing in B: 3 (violation"), std::string::npos) << r.out;
  EXPECT_NE(last_line(r.out).find("FAIL: first bad iteration 3: iteration missing in B"), std::string::npos) << r.out;
  r = run_parity({"diff", tmp / "a/metrics.jsonl", tmp / "megatron.log", "--allow-missing"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = run_parity({"diff", tmp / "megatron.log", tmp / "a"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("missing in A: 3 (reported only)"), std::string::npos) << r.out;
}

TEST(Cli, RunRefusesSlurmAndDryRunPrintsBothCommands) {
  TempDir tmp;
  const std::vector<std::string> base = {
      "run",   "--recipe", "recipes/nemotron_20l", "--scale", "tiny", "--reference-scale", "single", "--iters", "10",
      "--out", tmp / "p"};
  auto args = base;
  args.insert(args.end(), {"--launcher", "slurm"});
  auto r = run_parity(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not yet supported: use --launcher local, or run the two jobs with hetero-launch submit and "
                       "then hetero-parity diff"),
            std::string::npos)
      << r.err;

  args = base;
  args.insert(args.end(), {"--dry-run", "--launch", "/x/hetero-launch", "--set", "train.seed=3", "--set-b",
                           "scales.single.mode=colocated", "--", "--device", "cpu"});
  r = run_parity(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hetero: /x/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --out " + tmp / "p" +
                       "/hetero --iters 10 --set train.seed=3 -- --dump-embeddings-at 1,2,10 --device cpu\n"
                       "reference: /x/hetero-launch local --recipe recipes/nemotron_20l --scale single --out " +
                       tmp / "p" +
                       "/reference --iters 10 --set train.seed=3 --set scales.single.mode=colocated -- "
                       "--dump-embeddings-at 1,2,10 --device cpu\n");

  args = base;
  args.insert(args.end(), {"--dump-embeddings-at", "12"});
  r = run_parity(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("outside 1..10"), std::string::npos) << r.err;
}

// `run` end to end with a stand-in for hetero-launch that copies a prepared
// run directory (chosen by --scale) into --out and records its arguments.
TEST(Cli, RunDrivesBothJobsThenDiffs) {
  TempDir tmp;
  make_runs(tmp / "template/tiny", tmp / "template/single", 0, 0);
  make_runs(tmp / "template/tinybad", tmp / "template/single2", 1e-3, 0);
  const std::string fake = tmp / "fake-launch";
  parity_test::write_text(fake,
                          "#!/bin/sh\n"
                          "args=\"$*\"; out=''; scale=''\n"
                          "while [ $# -gt 0 ]; do case \"$1\" in --out) out=\"$2\"; shift;; --scale) scale=\"$2\"; "
                          "shift;; esac; shift; done\n"
                          "[ \"$scale\" = broken ] && { echo 'rank 1 failed' >&2; exit 7; }\n"
                          "mkdir -p \"$out\" && cp -r \"" +
                              tmp / "template" + "/$scale/.\" \"$out/\" && echo \"$args\" > \"$out/argv.txt\"\n");
  fs::permissions(fake, fs::perms::owner_all);

  auto run = [&](const std::string& out, const std::string& scale, const std::string& ref) {
    return run_parity({"run", "--recipe", "r", "--scale", scale, "--reference-scale", ref, "--iters", "3", "--out", out,
                       "--launch", fake});
  };
  auto r = run(tmp / "ok", "tiny", "single");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(last_line(r.out).substr(0, 5), "PASS:") << r.out;
  EXPECT_EQ(parity_test::read_text(tmp / "ok/hetero/argv.txt"),
            "local --recipe r --scale tiny --out " + tmp / "ok/hetero" + " --iters 3 -- --dump-embeddings-at 1,2,3\n");
  for (const char* f : {"parity.json", "parity.md", "parity.svg"}) EXPECT_TRUE(fs::exists(tmp / "ok" + "/" + f)) << f;

  r = run(tmp / "bad", "tinybad", "single2");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(last_line(r.out).find("FAIL: first bad iteration 2"), std::string::npos) << r.out;

  r = run(tmp / "ok", "tiny", "single");  // the old runs are still there
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already holds a run"), std::string::npos) << r.err;

  r = run(tmp / "broken", "broken", "single");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("the hetero job failed with status 7"), std::string::npos) << r.err;
}
