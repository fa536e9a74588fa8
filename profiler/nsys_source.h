// nsys SQLite exports (`nsys export --type sqlite`), one file per rank: the
// trainer's NVTX ranges "<region> iter=<N>[ mb=<M>]" in the "hetero" domain,
// read from NVTX_EVENTS (names in `text` or StringIds via `textId`).
#pragma once

#include <string>
#include <vector>

#include "run_config.h"
#include "source.h"

namespace hetero::profiler {

class NsysSource : public RankSource {
 public:
  // The rank of each file: the number in "rank-NNNNN" in its file name when
  // every file has one, else its position in `files`. Roles come from
  // `config` (RUN/config.yaml through --run) or are "unknown".
  NsysSource(std::vector<std::string> files, const RunConfig* config);

  std::string describe() const override;
  std::size_t size() const override { return files_.size(); }
  RankReadInfo read(std::size_t index, RankVisitor& visitor, std::optional<int> only_iter) override;
  int rank_of(std::size_t index) const { return ranks_.at(index); }

 private:
  std::vector<std::string> files_;
  std::vector<int> ranks_;
  const RunConfig* config_;
};

// Splits an NVTX range name "<region> iter=<N>[ mb=<M>]". Returns false if
// it is not of that form; `region` is -1 for a name outside design §8.
bool parse_nvtx_name(const std::string& text, int& region, int& iter, int& microbatch);

}  // namespace hetero::profiler
