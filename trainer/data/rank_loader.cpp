#include "data/rank_loader.h"

#include "data/make_dataset.h"

namespace hetero {

std::unique_ptr<DataLoader> make_rank_loader(const Recipe& recipe, const JobTopology& topo, const JobComms& comms) {
  DataRole role;
  DataLoader::Plan plan;
  if (topo.hetero() && comms.encoder) {
    role.encoder_side = true;
    role.encoder_replica = comms.encoder->dp.rank;
  } else if (comms.llm) {
    role.lane = comms.llm->dp.rank;
    // Colocated, stage 0 runs the encoder on its own lane's images.
    role.decodes = !topo.hetero() && comms.llm->pp.rank == 0;
  }
  if (comms.encoder || comms.llm) plan = [&topo, role](int iter) { return rank_fetches(topo, role, iter); };
  return std::make_unique<DataLoader>(make_dataset(recipe), recipe.data.loader_threads, recipe.data.prefetch_depth,
                                      std::move(plan));
}

}  // namespace hetero
