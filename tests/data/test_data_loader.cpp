// The prefetching loader returns exactly what the dataset returns, reads
// ahead only what the rank's plan names, and a started-late loader (a resumed
// run) needs nothing but the iteration.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "data/data_loader.h"
#include "data/mock_dataset.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"

namespace hetero {
namespace {

const Recipe& tiny() {
  static const Recipe r = load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l", "tiny", {});
  return r;
}

// Counts which (sample, image) pixels were decoded.
class Counting : public Dataset {
 public:
  Counting() : mock_(tiny().data, tiny().llm, tiny().encoder) {}
  Sample sample(std::uint64_t i) const override { return mock_.sample(i); }
  ImagePixels image(std::uint64_t i, int k) const override {
    std::lock_guard<std::mutex> lock(m_);
    decoded_.insert({i, k});
    return mock_.image(i, k);
  }
  std::string describe() const override { return "counting mock"; }
  std::set<std::pair<std::uint64_t, int>> decoded() const {
    std::lock_guard<std::mutex> lock(m_);
    return decoded_;
  }

 private:
  MockDataset mock_;
  mutable std::mutex m_;
  mutable std::set<std::pair<std::uint64_t, int>> decoded_;
};

JobTopology fan_in_topology() {
  // 2 encoder replicas split one lane's images (fan-in), GBS 8, MBS 2.
  JobTopology t;
  t.mode = "hetero";
  t.global_batch_size = 8;
  t.micro_batch_size = 2;
  t.encoder = ModuleLayout{"encoder", 0, {}};
  t.encoder.dims.tp = 1;
  t.encoder.dims.size = 2;
  t.llm = ModuleLayout{"llm", 2, {}};
  t.llm.dims.tp = 1;
  t.llm.dims.size = 1;
  t.world_size = 3;
  return t;
}

TEST(DataLoader, PrefetchedReadsEqualDirectReads) {
  const MockDataset direct(tiny().data, tiny().llm, tiny().encoder);
  const JobTopology topo = fan_in_topology();
  const DataRole role{false, 0, 0, true};  // an LLM rank that decodes (colocated stage 0)
  DataLoader loader(std::make_unique<MockDataset>(tiny().data, tiny().llm, tiny().encoder), 2, 2,
                    [&](int iter) { return rank_fetches(topo, role, iter); });
  for (int iter = 1; iter <= 4; ++iter) {
    loader.begin_iteration(iter);
    for (int mb = 0; mb < topo.num_microbatches(); ++mb)
      for (std::uint64_t s : microbatch_sample_indices(topo, iter, 0, mb)) {
        const Sample got = loader.sample(s), want = direct.sample(s);
        EXPECT_EQ(got.tokens, want.tokens);
        EXPECT_EQ(got.loss_mask, want.loss_mask);
        for (int k = 0; k < static_cast<int>(want.images.size()); ++k)
          EXPECT_EQ(loader.image(s, k).patches, direct.image(s, k).patches);
      }
  }
  EXPECT_GT(loader.stats().images, 0u);
}

TEST(DataLoader, AFanInReplicaDecodesOnlyItsShare) {
  const JobTopology topo = fan_in_topology();
  ASSERT_EQ(topo.encoders_per_lane(), 2);
  auto counting = std::make_unique<Counting>();
  const Counting* seen = counting.get();
  const DataRole role{true, 1, 0, true};  // encoder replica 1, its tp rank 0
  DataLoader loader(std::move(counting), 2, 1, [&](int iter) { return rank_fetches(topo, role, iter); });
  loader.begin_iteration(1);
  std::set<std::pair<std::uint64_t, int>> share;
  const MockDataset direct(tiny().data, tiny().llm, tiny().encoder);
  for (int mb = 0; mb < topo.num_microbatches(); ++mb) {
    const auto idx = microbatch_sample_indices(topo, 1, 0, mb);
    std::vector<std::pair<std::uint64_t, int>> all;
    for (auto s : idx)
      for (int k = 0; k < static_cast<int>(direct.sample(s).images.size()); ++k) all.push_back({s, k});
    const auto [b, e] = fan_in_image_range(static_cast<int>(all.size()), 2, 1);
    for (int k = b; k < e; ++k) {
      share.insert(all[k]);
      loader.image(all[k].first, all[k].second);
    }
  }
  // Iteration 2 is being read ahead too; wait for it by asking for its share.
  loader.begin_iteration(2);
  const auto decoded = seen->decoded();
  for (const auto& p : share) EXPECT_TRUE(decoded.count(p)) << p.first << "/" << p.second;
  for (const auto& p : decoded)
    if (p.first < 8) EXPECT_TRUE(share.count(p)) << "decoded " << p.first << "/" << p.second << " outside the share";
}

TEST(DataLoader, AResumedLoaderReadsTheSameDataAtTheSameIteration) {
  const JobTopology topo = fan_in_topology();
  const DataRole role{false, 0, 0, false};
  auto make = [&] {
    return std::make_unique<DataLoader>(std::make_unique<MockDataset>(tiny().data, tiny().llm, tiny().encoder), 2, 2,
                                        [&](int iter) { return rank_fetches(topo, role, iter); });
  };
  auto from_start = make(), resumed = make();
  for (int iter = 1; iter <= 5; ++iter) from_start->begin_iteration(iter);
  resumed->begin_iteration(5);
  for (std::uint64_t s : microbatch_sample_indices(topo, 5, 0, 1))
    EXPECT_EQ(from_start->sample(s).tokens, resumed->sample(s).tokens);
}

}  // namespace
}  // namespace hetero
