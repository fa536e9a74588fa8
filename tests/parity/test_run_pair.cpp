// `hetero-parity run` as command construction (no trainer needed), and the
// --json argument rule.
#include <gtest/gtest.h>

#include "args.h"
#include "hetero/errors.h"
#include "run_pair.h"

using namespace hetero::parity;
using Args = std::vector<std::string>;

namespace {
PairSpec spec() {
  PairSpec s;
  s.launch_bin = "/opt/hetero/bin/hetero-launch";
  s.recipe = "recipes/nemotron_20l";
  s.scale = "tiny";
  s.reference_scale = "single";
  s.out = "runs/parity";
  s.iters = 10;
  s.dump_at = {1, 2, 10};
  s.set_both = {"train.seed=7"};
  s.set_a = {"scales.tiny.llm.tp=2"};
  s.set_b = {"scales.single.mode=colocated", "scales.single.llm.ranks=1"};
  return s;
}
}  // namespace

TEST(RunPair, BuildsTheHeteroAndReferenceCommands) {
  const auto jobs = build_pair_commands(spec());
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].name, "hetero");
  EXPECT_EQ(jobs[0].run_dir, "runs/parity/hetero");
  EXPECT_EQ(jobs[0].argv, (Args{"/opt/hetero/bin/hetero-launch", "local", "--recipe", "recipes/nemotron_20l", "--scale",
                                "tiny", "--out", "runs/parity/hetero", "--iters", "10", "--set", "train.seed=7",
                                "--set", "scales.tiny.llm.tp=2", "--", "--dump-embeddings-at", "1,2,10"}));
  EXPECT_EQ(jobs[1].name, "reference");
  EXPECT_EQ(jobs[1].run_dir, "runs/parity/reference");
  EXPECT_EQ(jobs[1].argv, (Args{"/opt/hetero/bin/hetero-launch", "local", "--recipe", "recipes/nemotron_20l", "--scale",
                                "single", "--out", "runs/parity/reference", "--iters", "10", "--set", "train.seed=7",
                                "--set", "scales.single.mode=colocated", "--set", "scales.single.llm.ranks=1", "--",
                                "--dump-embeddings-at", "1,2,10"}));
}

TEST(RunPair, TrainerArgumentsFollowTheDumpFlagAndNoDumpsMeansNoFlag) {
  PairSpec s = spec();
  s.trainer_args = {"--device", "cuda"};
  auto jobs = build_pair_commands(s);
  const Args tail(jobs[1].argv.end() - 5, jobs[1].argv.end());
  EXPECT_EQ(tail, (Args{"--", "--dump-embeddings-at", "1,2,10", "--device", "cuda"}));
  s.dump_at.clear();
  s.trainer_args.clear();
  jobs = build_pair_commands(s);
  EXPECT_EQ(jobs[0].argv.back(), "scales.tiny.llm.tp=2");
}

TEST(RunPair, SlurmIsRefusedWithTheWayAround) {
  PairSpec s = spec();
  s.launcher = "slurm";
  try {
    build_pair_commands(s);
    FAIL() << "expected ConfigError";
  } catch (const hetero::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not yet supported: use --launcher local, or run the two jobs with "
                                         "hetero-launch submit and then hetero-parity diff"),
              std::string::npos)
        << e.what();
  }
  s.launcher = "ssh";
  EXPECT_THROW(build_pair_commands(s), hetero::ConfigError);
  s = spec();
  s.iters = 0;
  EXPECT_THROW(build_pair_commands(s), hetero::ConfigError);
}

TEST(RunPair, DumpIterationLists) {
  EXPECT_EQ(parse_iteration_list("10,1,2,2", 10), (std::vector<int>{1, 2, 10}));
  EXPECT_EQ(parse_iteration_list(" 3 , 4", 10), (std::vector<int>{3, 4}));
  EXPECT_TRUE(parse_iteration_list("none", 10).empty());
  EXPECT_THROW(parse_iteration_list("0", 10), hetero::ConfigError);
  EXPECT_THROW(parse_iteration_list("11", 10), hetero::ConfigError);
  EXPECT_THROW(parse_iteration_list("1,x", 10), hetero::ConfigError);
  EXPECT_THROW(parse_iteration_list("1,,2", 10), hetero::ConfigError);
  EXPECT_EQ(default_dump_iterations(10), (std::vector<int>{1, 2, 10}));
  EXPECT_EQ(default_dump_iterations(2), (std::vector<int>{1, 2}));
  EXPECT_EQ(default_dump_iterations(1), (std::vector<int>{1}));
}

TEST(RunPair, ShellJoinQuotesWhatAShellWouldSplit) {
  EXPECT_EQ(shell_join({"a", "--set", "x.y=1", "it's here", ""}), "a --set x.y=1 'it'\\''s here' ''");
}

TEST(JsonFlag, TakesAFileOnlyWhenThePositionalsRemain) {
  const std::set<std::string> flags = {"--brief", "--help"};
  auto r = [&](const Args& a, int pos) { return resolve_optional_value(a, "--json", flags, pos); };
  EXPECT_EQ(r({"diff", "--json", "a", "b"}, 2), (Args{"diff", "--json=-", "a", "b"}));
  EXPECT_EQ(r({"diff", "--json", "out.json", "a", "b"}, 2), (Args{"diff", "--json=out.json", "a", "b"}));
  EXPECT_EQ(r({"diff", "a", "b", "--json"}, 2), (Args{"diff", "a", "b", "--json=-"}));
  EXPECT_EQ(r({"diff", "a", "--json", "b"}, 2), (Args{"diff", "a", "--json=-", "b"}));
  EXPECT_EQ(r({"diff", "a", "b", "--json", "-"}, 2), (Args{"diff", "a", "b", "--json=-"}));
  EXPECT_EQ(r({"diff", "--loss-rtol", "1e-3", "--json", "a", "b"}, 2),
            (Args{"diff", "--loss-rtol", "1e-3", "--json=-", "a", "b"}));
  EXPECT_EQ(r({"diff", "--brief", "--json", "o.json", "a", "b"}, 2),
            (Args{"diff", "--brief", "--json=o.json", "a", "b"}));
  EXPECT_EQ(r({"diff", "--json=x", "a", "b"}, 2), (Args{"diff", "--json=x", "a", "b"}));
  EXPECT_EQ(r({"run", "--json", "r.json", "--iters", "3"}, 0), (Args{"run", "--json=r.json", "--iters", "3"}));
  EXPECT_EQ(r({"run", "--json", "--iters", "3"}, 0), (Args{"run", "--json=-", "--iters", "3"}));
}
