// Which samples (and which of their images' pixels) one rank reads in an
// iteration: a pure function of the topology and the rank's role, so the
// loader can work ahead and a resumed start needs only the iteration.
#pragma once

#include <cstdint>
#include <vector>

#include "hetero/topology.h"

namespace hetero {

// Sample j of iteration i's global batch is s = (i-1)*GBS + j. Lane l owns the
// contiguous slice [l*GBS/lanes, (l+1)*GBS/lanes) and runs it as consecutive
// microbatches of MBS samples.
std::vector<std::uint64_t> microbatch_sample_indices(const JobTopology& topo, int iter, int lane, int microbatch);

// One microbatch's read: its samples' text side always; pixels of all their
// images, of none, or of fan-in part `part` of `parts` (fan_in_image_range
// over the images of all the samples, in order).
struct Fetch {
  std::vector<std::uint64_t> samples;
  enum class Pixels { None, All, Share } pixels = Pixels::None;
  int part = 0, parts = 1;
};

struct DataRole {
  bool encoder_side = false;  // a hetero encoder rank
  int encoder_replica = 0;
  int lane = 0;               // an LLM rank's lane
  // Whether this rank decodes pixels: a hetero encoder rank (its replica's
  // share of each lane's images), or an LLM rank that runs the encoder
  // itself (colocated stage 0, all of its lane's images).
  bool pixels = false;
};

std::vector<Fetch> rank_fetches(const JobTopology& topo, const DataRole& role, int iter);

// The images of a fetch whose pixels it reads: [begin, end) over the
// microbatch's images in order, given their count.
std::pair<int, int> fetch_image_range(const Fetch& f, int num_images);

}  // namespace hetero
