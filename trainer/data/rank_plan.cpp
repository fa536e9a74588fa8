#include "data/rank_plan.h"

namespace hetero {

std::vector<std::uint64_t> microbatch_sample_indices(const JobTopology& topo, int iter, int lane, int microbatch) {
  std::vector<std::uint64_t> out;
  const std::uint64_t first = static_cast<std::uint64_t>(iter - 1) * topo.global_batch_size +
                              static_cast<std::uint64_t>(lane) * topo.samples_per_lane() +
                              static_cast<std::uint64_t>(microbatch) * topo.micro_batch_size;
  for (int k = 0; k < topo.micro_batch_size; ++k) out.push_back(first + k);
  return out;
}

std::vector<Fetch> rank_fetches(const JobTopology& topo, const DataRole& role, int iter) {
  std::vector<Fetch> out;
  for (int mb = 0; mb < topo.num_microbatches(); ++mb) {
    if (role.encoder_side) {
      const int k = topo.encoders_per_lane();
      for (int lane : topo.lanes_of_encoder_replica(role.encoder_replica))
        out.push_back({microbatch_sample_indices(topo, iter, lane, mb),
                       !role.pixels ? Fetch::Pixels::None : k == 1 ? Fetch::Pixels::All : Fetch::Pixels::Share,
                       role.encoder_replica % k, k});
    } else {
      out.push_back({microbatch_sample_indices(topo, iter, role.lane, mb),
                     role.pixels ? Fetch::Pixels::All : Fetch::Pixels::None, 0, 1});
    }
  }
  return out;
}

std::pair<int, int> fetch_image_range(const Fetch& f, int num_images) {
  if (f.pixels == Fetch::Pixels::None) return {0, 0};
  if (f.pixels == Fetch::Pixels::All) return {0, num_images};
  return fan_in_image_range(num_images, f.parts, f.part);
}

}  // namespace hetero
