// The recipe's launch section and sample-based schedule: parsed, derived
// once, and validated like every other key (value, rule and fix named).
#include <gtest/gtest.h>

#include <functional>

#include "config_error_of.h"
#include "hetero/errors.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"
#include "launch_util.h"
#include "sbatch_rules.h"

namespace hetero {
namespace {

using launch_test::recipe;

using test::config_error_of;

std::string load_error(const std::string& scale, const std::vector<std::string>& sets) {
  return config_error_of([&] { load_recipe(recipe("nemotron_20l"), scale, sets); });
}

TEST(LaunchConfig, RecipeSectionIsRead) {
  const Recipe r = load_recipe(recipe("nemotron_54l"), "33n", {});
  EXPECT_EQ(r.launch.time, "04:00:00");
  EXPECT_EQ(r.launch.signal_seconds, 300);
  EXPECT_EQ(r.launch.max_requeues, 3);
  EXPECT_EQ(r.launch.port, 29500);
  EXPECT_EQ(r.launch.device, "cuda");
  ASSERT_FALSE(r.launch.env.empty());
  EXPECT_EQ(r.launch.env.front().first, "CUDA_DEVICE_MAX_CONNECTIONS");  // file order
  EXPECT_TRUE(r.resolved["launch"]);
}

TEST(LaunchConfig, TinyIsACpuScaleAndOverridesWin) {
  EXPECT_EQ(load_recipe(recipe("nemotron_20l"), "tiny", {}).launch.device, "cpu");
  const Recipe r = load_recipe(recipe("nemotron_20l"), "9n",
                               {"launch.time=1-00:00:00", "launch.env.NCCL_DEBUG=INFO", "launch.max_requeues=0"});
  EXPECT_EQ(r.launch.time, "1-00:00:00");
  EXPECT_EQ(r.launch.max_requeues, 0);
  bool found = false;
  for (const auto& [k, v] : r.launch.env) found = found || (k == "NCCL_DEBUG" && v == "INFO");
  EXPECT_TRUE(found);
}

TEST(LaunchConfig, ScheduleInSamplesIsDerivedOnce) {
  const Recipe r = load_recipe(recipe("nemotron_20l"), "9n", {});
  EXPECT_EQ(r.train.train_samples, 122070313);
  EXPECT_EQ(r.train.train_iters, (122070313 + 767) / 768);
  EXPECT_EQ(r.train.lr_warmup_iters, (1024000 + 767) / 768);
  // tiny gives iterations, which replace the top-level samples.
  const Recipe tiny = load_recipe(recipe("nemotron_20l"), "tiny", {});
  EXPECT_EQ(tiny.train.train_samples, 0);
  EXPECT_EQ(tiny.train.train_iters, 20);
  // A --set in either unit replaces the other.
  EXPECT_EQ(load_recipe(recipe("nemotron_20l"), "9n", {"train.train_iters=5000"}).train.train_iters, 5000);
  const Recipe s = load_recipe(recipe("nemotron_20l"), "tiny", {"train.train_samples=100"});
  EXPECT_EQ(s.train.train_iters, 13);  // ceil(100 / 8)
  // The plan says where the iterations came from.
  const std::string plan = describe_plan(r, plan_topology(r));
  EXPECT_NE(plan.find("iterations:     158946  (ceil(train samples 122070313 / global batch 768))"), std::string::npos)
      << plan;
}

TEST(LaunchConfig, BothUnitsInOneSectionIsAnError) {
  const std::string dir = launch_test::fresh_dir("recipe");
  std::string text = launch_test::slurp(recipe("nemotron_20l") + "/recipe.yaml");
  text = launch_test::replace_all(text, "  train_samples: 122070313", "  train_samples: 122070313\n  train_iters: 10");
  launch_test::write_file(dir + "/recipe.yaml", text);
  const std::string e = config_error_of([&] { load_recipe(dir, "9n", {}); });
  EXPECT_NE(e.find("train.train_iters and train.train_samples are both given"), std::string::npos) << e;
  EXPECT_NE(load_error("9n", {"train.train_samples=0"}).find("train.train_samples=0 must be at least 1"),
            std::string::npos);
}

TEST(LaunchConfig, BadValuesNameValueRuleAndFix) {
  const std::string e = load_error("9n", {"launch.time=4h", "launch.signal_seconds=0", "launch.port=80",
                                          "launch.device=tpu", "launch.max_requeues=-1", "launch.account=a b"});
  for (const char* want : {"launch.time (--time) '4h' is not a Slurm time limit [D-]HH:MM:SS",
                           "launch.signal_seconds=0 must be between 1 and 65535", "launch.port=80",
                           "launch.device 'tpu' must be cuda", "launch.max_requeues=-1",
                           "launch.account (--account) 'a b'"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\n" << e;
  EXPECT_NE(load_error("9n", {"launch.time=00:04:00"}).find("launch.signal_seconds=300 is not below the time limit"),
            std::string::npos);
  EXPECT_NE(load_error("9n", {"launch.time=10:61:00"}).find("is not a Slurm time limit"), std::string::npos);
  EXPECT_NE(load_error("9n", {"launch.tme=1"}).find("unknown recipe key 'launch.tme'"), std::string::npos);
  EXPECT_NE(load_error("9n", {"launch.env.MASTER_PORT=1"}).find("set launch.port instead"), std::string::npos);
  EXPECT_NE(load_error("9n", {"launch.env.1BAD=1"}).find("is not an environment variable name"), std::string::npos);
  EXPECT_NE(load_error("9n", {"scales.9n.launch.tme=1"}).find("unknown recipe key 'launch.tme'"), std::string::npos);
}

TEST(LaunchConfig, ExtraSbatchLinesMustBeDirectivesTheScriptDoesNotOwn) {
  auto problems = [](std::vector<std::string> lines) {
    ProblemList p;
    check_sbatch_extra(lines, p);
    try {
      p.throw_if_any();
    } catch (const ConfigError& e) {
      return e.problems();
    }
    return std::vector<std::string>{};
  };
  EXPECT_TRUE(problems({"#SBATCH --qos=high", "#SBATCH --exclusive", "#SBATCH --job-name=mine",
                        "#SBATCH --nodelist=a,b", "#SBATCH --mem=0"})
                  .empty());
  for (const std::string bad : {"--qos=high", "SBATCH --qos=high", "#SBATCH", "#SBATCH qos"}) {
    const auto p = problems({bad});
    ASSERT_EQ(p.size(), 1u) << bad;
    EXPECT_NE(p[0].find("#SBATCH "), std::string::npos) << p[0];
  }
  for (const std::string owned : {"#SBATCH --nodes=3", "#SBATCH -N 3", "#SBATCH --time=1:00:00", "#SBATCH -t10",
                                  "#SBATCH --signal=USR1@10", "#SBATCH --output=x", "#SBATCH --part=gpu",
                                  "#SBATCH --ntasks-per-node=4", "#SBATCH --no-requeue", "#SBATCH -A acct"}) {
    const auto p = problems({owned});
    ASSERT_EQ(p.size(), 1u) << owned;
    EXPECT_NE(p[0].find("which the script already sets"), std::string::npos) << p[0];
  }
}

}  // namespace
}  // namespace hetero
