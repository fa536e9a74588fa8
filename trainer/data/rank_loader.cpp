#include "data/rank_loader.h"

#include "data/make_dataset.h"

namespace hetero {

std::unique_ptr<DataLoader> make_rank_loader(const Recipe& recipe, const JobTopology& topo, const JobComms& comms) {
  DataRole role;
  DataLoader::Plan plan;
  // Pixels are decoded on the encoder's tp rank 0 (schedules.cpp broadcasts
  // them to the other tp ranks).
  const bool encoder_tp_root = comms.encoder && comms.encoder->tp.rank == 0;
  if (topo.hetero() && comms.encoder) {
    role.encoder_side = true;
    role.encoder_replica = comms.encoder->dp.rank;
    role.pixels = encoder_tp_root;
  } else if (comms.llm) {
    role.lane = comms.llm->dp.rank;
    // Colocated, stage 0 runs the encoder on its own lane's images.
    role.pixels = !topo.hetero() && comms.llm->pp.rank == 0 && encoder_tp_root;
  }
  if (comms.encoder || comms.llm) plan = [&topo, role](int iter) { return rank_fetches(topo, role, iter); };
  return std::make_unique<DataLoader>(make_dataset(recipe), recipe.data.loader_threads, recipe.data.prefetch_depth,
                                      std::move(plan));
}

}  // namespace hetero
