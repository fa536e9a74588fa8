// Variable-size exchange of rows between the ranks of a group, with
// autograd: the building block of MoE token dispatch (design §6).
//
// c10d's alltoall_base with split sizes exists on Gloo (1.13 included) and
// NCCL, so one primitive serves both; an all-gather of rows is expressed as
// an all-to-all that sends the same rows to every rank, which gives its
// backward (a reduce-scatter) for free.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

// x [n, ...]: the first send_counts[j] rows go to group rank j, the next to
// j+1, ... (sum(send_counts) == n). Returns the rows received, ordered by
// source rank, recv_counts[i] of them from rank i. Backward sends the
// gradients back the way the rows came.
at::Tensor all_to_all_rows(const at::Tensor& x, const std::vector<int64_t>& send_counts,
                           const std::vector<int64_t>& recv_counts, const Group& g);

// Every rank contributes `mine` (same length everywhere); returns all of
// them, indexed by group rank.
std::vector<std::vector<int64_t>> all_gather_counts(const std::vector<int64_t>& mine, const Group& g);

// Rows of every rank of `g`, concatenated in rank order; rows_per_rank[i]
// must be rank i's row count. Backward sums each rank's gradient slice.
at::Tensor all_gather_rows(const at::Tensor& x, const std::vector<int64_t>& rows_per_rank, const Group& g);

// The inverse of all_gather_rows for partial results: x holds rows for every
// rank (rows_per_rank[i] of them for rank i, in rank order); returns the sum
// over ranks of the rows that belong to this rank.
at::Tensor reduce_scatter_rows(const at::Tensor& x, const std::vector<int64_t>& rows_per_rank, const Group& g);

}  // namespace hetero
