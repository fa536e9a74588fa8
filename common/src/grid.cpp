#include "hetero/grid.h"

#include <algorithm>
#include <stdexcept>

namespace hetero {

RankGrid::RankGrid(int offset, std::vector<GridDim> dims)
    : offset_(offset), size_(1), dims_(std::move(dims)) {
  for (const auto& d : dims_) {
    if (d.size < 1) throw std::invalid_argument("grid dim " + d.name + " has size " + std::to_string(d.size));
    size_ *= d.size;
  }
}

int RankGrid::dim_index(const std::string& dim) const {
  for (size_t i = 0; i < dims_.size(); ++i)
    if (dims_[i].name == dim) return static_cast<int>(i);
  std::string known;
  for (const auto& d : dims_) known += (known.empty() ? "" : ", ") + d.name;
  throw std::invalid_argument("grid has no dim '" + dim + "' (dims: " + known + ")");
}

int RankGrid::dim_size(const std::string& dim) const { return dims_[dim_index(dim)].size; }

std::vector<int> RankGrid::coords_of(int rank) const {
  if (!contains(rank))
    throw std::out_of_range("rank " + std::to_string(rank) + " is outside grid [" +
                            std::to_string(offset_) + ", " + std::to_string(offset_ + size_) + ")");
  std::vector<int> c(dims_.size());
  int rest = rank - offset_;
  for (size_t i = 0; i < dims_.size(); ++i) {
    c[i] = rest % dims_[i].size;
    rest /= dims_[i].size;
  }
  return c;
}

int RankGrid::coord(int rank, const std::string& dim) const { return coords_of(rank)[dim_index(dim)]; }

int RankGrid::rank_at(const std::vector<int>& coords) const {
  if (coords.size() != dims_.size()) throw std::invalid_argument("rank_at: wrong number of coordinates");
  int linear = 0;
  for (size_t i = dims_.size(); i-- > 0;) linear = linear * dims_[i].size + coords[i];
  return offset_ + linear;
}

std::vector<int> RankGrid::group_of(int rank, const std::vector<std::string>& dims) const {
  std::vector<int> varying;
  for (const auto& d : dims) varying.push_back(dim_index(d));
  std::vector<int> base = coords_of(rank);
  for (int v : varying) base[v] = 0;
  // Enumerate the varying dims like an odometer, fastest grid dim first.
  std::sort(varying.begin(), varying.end());
  std::vector<int> ranks;
  std::vector<int> c = base;
  while (true) {
    ranks.push_back(rank_at(c));
    size_t k = 0;
    for (; k < varying.size(); ++k) {
      int d = varying[k];
      if (++c[d] < dims_[d].size) break;
      c[d] = 0;
    }
    if (k == varying.size()) break;
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

int RankGrid::rank_in_group(int rank, const std::vector<std::string>& dims) const {
  auto g = group_of(rank, dims);
  return static_cast<int>(std::find(g.begin(), g.end(), rank) - g.begin());
}

std::vector<std::vector<int>> RankGrid::all_groups(const std::vector<std::string>& dims) const {
  std::vector<std::vector<int>> groups;
  std::vector<bool> seen(size_, false);
  for (int r = offset_; r < offset_ + size_; ++r) {
    if (seen[r - offset_]) continue;
    auto g = group_of(r, dims);
    for (int m : g) seen[m - offset_] = true;
    groups.push_back(std::move(g));
  }
  return groups;
}

std::string RankGrid::group_key(int rank, const std::vector<std::string>& dims) const {
  std::string key;
  for (const auto& d : dims) key += (key.empty() ? "" : "-") + d;
  if (key.empty()) key = "self";
  return key + ".g" + std::to_string(group_of(rank, dims).front());
}

}  // namespace hetero
