// The data loader of one trainer rank: the recipe's dataset, read ahead by
// what this rank's role in the topology will ask for (rank_fetches).
#pragma once

#include <memory>

#include "data/data_loader.h"
#include "dist/comm.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"

namespace hetero {

// `topo` must outlive the loader.
std::unique_ptr<DataLoader> make_rank_loader(const Recipe& recipe, const JobTopology& topo, const JobComms& comms);

}  // namespace hetero
