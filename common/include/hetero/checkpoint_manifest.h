// The training checkpoint's format (design §8), torch-free so every tool
// can read it. One checkpoint is a folder RUN/checkpoints/iter-NNNNNNN:
//
//   manifest.json            this file's CheckpointManifest, written last
//   rank-RRRRR.safetensors   the pieces rank R holds, stored exactly (F32)
//   rank-RRRRR.json          rank R's own list of pieces, merged into the manifest
//
// A piece is part of one tensor of the model: `tensor` names it
// ("<param name>" for weights and buffers, "exp_avg/<param name>" and
// "exp_avg_sq/<param name>" for AdamW moments). The tensor's global shape is
// cut into `shards` equal chunks along `shard_dim` (tensor or expert tensor
// parallelism; shard_dim -1: not cut), and the piece holds elements
// [flat_begin, flat_end) of chunk `shard`, flattened row-major (a whole
// chunk unless the distributed optimizer split it over data parallelism).
// Every element of every tensor is held by exactly one piece, so a loader
// can assemble any tensor in full and cut it for another layout.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hetero {

inline constexpr const char* kCheckpointFormat = "hetero-checkpoint-v1";

struct CheckpointPiece {
  std::string tensor;  // the tensor's name (see above); also its key in `file`
  std::string file;    // rank-RRRRR.safetensors, relative to the checkpoint folder
  std::string dtype = "F32";
  std::vector<int64_t> global_shape;
  int shard_dim = -1, shards = 1, shard = 0;
  int64_t flat_begin = 0, flat_end = 0;  // within the chunk, row-major
  // Elements of one chunk: the global shape with shard_dim divided by shards.
  int64_t chunk_numel() const;
};

// Where training stood when the checkpoint was taken: what a resumed start
// needs besides the tensors. Samples are named by global index (design §4),
// so the data position is the next global sample index.
struct CheckpointProgress {
  int iteration = 0;                 // iterations completed
  std::int64_t consumed_samples = 0;
  int skipped_iterations = 0;        // non-finite steps so far (they do not advance the schedule)
  std::int64_t schedule_position = 0;  // where the LR/WD schedule stands (iterations or samples)
  std::int64_t next_sample_index = 0;  // global index of the first sample the next iteration reads
  std::int64_t data_skipped = 0;       // bad samples and images skipped so far (metrics' data_skipped)
  std::map<std::string, int> optimizer_steps;  // per module that trains: AdamW's step count
};

struct CheckpointManifest {
  std::string format = kCheckpointFormat;
  CheckpointProgress progress;
  int world_size = 0;
  std::string config_yaml;  // the resolved recipe and topology, as config.yaml holds them
  std::vector<CheckpointPiece> pieces;
};

// File names inside a checkpoint folder.
std::string checkpoint_manifest_path(const std::string& dir);
std::string checkpoint_rank_file(int rank);        // rank-RRRRR.safetensors
std::string checkpoint_rank_index(const std::string& dir, int rank);  // dir/rank-RRRRR.json

// What one rank wrote (rank-RRRRR.json, written durably): its pieces and
// the step counts of the optimizers it runs. Every rank writes its own, so
// nothing of a module is lost when rank 0 does not run it (an encoder rank
// in a hetero job).
struct RankIndex {
  std::vector<CheckpointPiece> pieces;
  std::map<std::string, int> optimizer_steps;
};
void write_rank_index(const std::string& path, const RankIndex& index);
RankIndex read_rank_index(const std::string& path);

// manifest.json, written durably (temporary name, fsync, rename).
void write_manifest(const std::string& dir, const CheckpointManifest& m);
// Reads the manifest of the checkpoint folder `dir`. Throws CheckpointError.
CheckpointManifest read_manifest(const std::string& dir);
// Checks that dir/`file` exists and holds each of `pieces` (those the
// manifest places in it) with the stored dtype and size, so a truncated or
// foreign file is caught before training. Throws CheckpointError naming the
// file, the tensor and what differs.
void check_checkpoint_file(const std::string& dir, const std::string& file,
                           const std::vector<const CheckpointPiece*>& pieces);
// The same for every file of the manifest.
void check_checkpoint_files(const std::string& dir, const CheckpointManifest& m);

// Any problem with a checkpoint on disk; the message names the path and
// ends with what to do (--resume none, or an older iter-N).
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// checkpoints/latest: the iteration it names (nullopt when there is no
// latest file). Throws CheckpointError when its text is not an iteration or
// the folder it names is missing.
std::optional<int> read_latest(const std::string& checkpoints_dir);
// Replaces latest by rename (durable), naming `iteration`.
void write_latest(const std::string& checkpoints_dir, int iteration);
// Complete checkpoints in a run's checkpoints folder, oldest first.
std::vector<int> complete_checkpoints(const std::string& checkpoints_dir);
// The advice every refusal ends with: start fresh or pick another checkpoint.
std::string checkpoint_alternatives(const std::string& checkpoints_dir);

// Durability helpers shared by the writer: fsync a folder (so a rename in
// it survives a crash) and write a small text file by temporary name +
// fsync + rename.
void fsync_dir(const std::string& dir);
void write_file_durably(const std::string& path, const std::string& text);

}  // namespace hetero
