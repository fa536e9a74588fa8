// The group helpers on bf16 tensors over Gloo (the CPU backend, which has no
// bf16 of its own): what moves data moves it bit for bit, and a sum is the
// fp32 sum rounded once to bf16, as a bf16 training run on CPU relies on.
#include <gtest/gtest.h>

#include "dist/comm.h"
#include "ranks.h"

namespace hetero {
namespace {

// Rank r's input: values no bf16 rounding leaves alone, distinct per rank.
at::Tensor input_of(int rank) {
  return (at::arange(12, at::kFloat).reshape({6, 2}) * 0.37 + rank * 11.1).to(at::kBFloat16);
}

TEST(CommBf16, GlooCollectivesMoveBitsExactlyAndSumInFp32) {
  HETERO_SKIP_WITHOUT_GLOO();
  const std::string dir = test::temp_dir("comm-bf16");
  const std::string failed = test::run_ranks(2, [&](int rank, const StorePtr& store) {
    const Group g = test::make_group(store, "g", {0, 1}, rank);
    const at::Tensor x = input_of(rank);
    at::Tensor sum = x.clone(), max = x.clone(), root = x.clone();
    all_reduce_sum(g, sum);
    all_reduce_max(g, max);
    broadcast(g, root, 1);
    const std::vector<at::Tensor> gathered = all_gather(g, x);
    // Rank r sends rows [0, 2 + r) to rank 0 and the rest to rank 1.
    const std::vector<int64_t> send{2 + rank, 4 - rank}, recv = rank == 0 ? std::vector<int64_t>{2, 3}
                                                                           : std::vector<int64_t>{4, 3};
    at::Tensor exchanged = at::empty({recv[0] + recv[1], 2}, x.options());
    all_to_all(g, exchanged, x, recv, send);
    const at::Tensor scattered = reduce_scatter(g, x);
    std::vector<at::Tensor> saved{sum, max, root, gathered[0], gathered[1], exchanged, scattered};
    for (const at::Tensor& t : saved) ASSERT_EQ(t.scalar_type(), at::kBFloat16);
    for (at::Tensor& t : saved) t = t.to(at::kFloat);  // exact
    test::save_tensors(dir + "/rank" + std::to_string(rank), saved);
  });
  ASSERT_EQ(failed, "");
  const at::Tensor x0 = input_of(0).to(at::kFloat), x1 = input_of(1).to(at::kFloat);
  const at::Tensor sum = (x0 + x1).to(at::kBFloat16).to(at::kFloat);
  for (int rank = 0; rank < 2; ++rank) {
    const auto t = test::load_tensors(dir + "/rank" + std::to_string(rank));
    EXPECT_TRUE(at::equal(t[0], sum)) << "rank " << rank;
    EXPECT_TRUE(at::equal(t[1], at::maximum(x0, x1))) << "rank " << rank;
    EXPECT_TRUE(at::equal(t[2], x1)) << "rank " << rank;
    EXPECT_TRUE(at::equal(t[3], x0)) << "rank " << rank;
    EXPECT_TRUE(at::equal(t[4], x1)) << "rank " << rank;
    const at::Tensor expected = rank == 0 ? at::cat({x0.narrow(0, 0, 2), x1.narrow(0, 0, 3)})
                                          : at::cat({x0.narrow(0, 2, 4), x1.narrow(0, 3, 3)});
    EXPECT_TRUE(at::equal(t[5], expected)) << "rank " << rank;
    EXPECT_TRUE(at::equal(t[6], sum.narrow(0, 3 * rank, 3))) << "rank " << rank;
  }
}

}  // namespace
}  // namespace hetero
