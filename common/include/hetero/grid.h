// A contiguous block of ranks laid out as a grid of named dimensions.
//
// Dims are listed fastest-varying first (Megatron's default order for a
// module is tp, cp, dp, pp). Any subset of dims names a family of groups:
// the ranks that agree on every other dim. This is the one place where rank
// arithmetic lives; process groups, the bridge and the launcher all ask it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hetero {

struct GridDim {
  std::string name;
  int size;
};

class RankGrid {
 public:
  RankGrid(int offset, std::vector<GridDim> dims_fastest_first);

  int offset() const { return offset_; }
  int size() const { return size_; }
  bool contains(int rank) const { return rank >= offset_ && rank < offset_ + size_; }
  const std::vector<GridDim>& dims() const { return dims_; }
  int dim_size(const std::string& dim) const;

  // Coordinate of `rank` along `dim`.
  int coord(int rank, const std::string& dim) const;
  // The rank at the given coordinates (one per dim, in the grid's dim order).
  int rank_at(const std::vector<int>& coords) const;

  // Ranks of the group along `dims` that `rank` belongs to, ascending.
  std::vector<int> group_of(int rank, const std::vector<std::string>& dims) const;
  // Position of `rank` inside that group.
  int rank_in_group(int rank, const std::vector<std::string>& dims) const;
  // Every group along `dims`, ordered by their smallest rank.
  std::vector<std::vector<int>> all_groups(const std::vector<std::string>& dims) const;
  // A stable name for the group of `rank` along `dims`, e.g. "tp-cp.g3":
  // unique within this grid, equal on every member.
  std::string group_key(int rank, const std::vector<std::string>& dims) const;

 private:
  int dim_index(const std::string& dim) const;
  std::vector<int> coords_of(int rank) const;

  int offset_;
  int size_;
  std::vector<GridDim> dims_;
};

}  // namespace hetero
