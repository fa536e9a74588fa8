// Placement from Slurm or torchrun variables (design §5).
#include <gtest/gtest.h>

#include <map>

#include "hetero/errors.h"
#include "hetero/launch_env.h"

namespace hetero {
namespace {

EnvLookup fake(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(SlurmHostlist, ExpandsRangesAndKeepsZeroPadding) {
  EXPECT_EQ(expand_slurm_hostlist("node[01-03,07],gpu5"),
            (std::vector<std::string>{"node01", "node02", "node03", "node07", "gpu5"}));
  EXPECT_EQ(expand_slurm_hostlist("a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(expand_slurm_hostlist("x[9-11]"), (std::vector<std::string>{"x9", "x10", "x11"}));
  EXPECT_THROW(expand_slurm_hostlist("x[1-2"), ConfigError);
}

TEST(Placement, SlurmWinsAndMasterIsTheFirstHost) {
  const auto p = placement_from_env(fake({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"},
                                          {"SLURM_JOB_NODELIST", "gpu[003-004]"}, {"RANK", "0"},
                                          {"MASTER_PORT", "4242"}}));
  EXPECT_EQ(p.source, "slurm");
  EXPECT_EQ(p.rank, 5);
  EXPECT_EQ(p.world_size, 16);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.master_addr, "gpu003");
  EXPECT_EQ(p.master_port, 4242);
}

TEST(Placement, ExplicitMasterAddrWinsOverTheNodelist) {
  const auto p = placement_from_env(
      fake({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "n[1-2]"}, {"MASTER_ADDR", "10.0.0.9"}}));
  EXPECT_EQ(p.master_addr, "10.0.0.9");
}

TEST(Placement, TorchrunVariables) {
  const auto p = placement_from_env(fake({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"},
                                          {"MASTER_ADDR", "host"}, {"MASTER_PORT", "1234"}}));
  EXPECT_EQ(p.source, "torchrun");
  EXPECT_EQ(p.rank, 2);
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.master_addr, "host");
  EXPECT_EQ(p.master_port, 1234);
}

TEST(Placement, NoVariablesMeansOneProcess) {
  const auto p = placement_from_env(fake({}));
  EXPECT_EQ(p.source, "default");
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.world_size, 1);
}

TEST(Placement, MalformedValuesAreErrors) {
  EXPECT_THROW(placement_from_env(fake({{"RANK", "two"}, {"WORLD_SIZE", "4"}})), ConfigError);
  EXPECT_THROW(placement_from_env(fake({{"RANK", "4"}, {"WORLD_SIZE", "4"}})), ConfigError);
}

}  // namespace
}  // namespace hetero
