// Saving a checkpoint without stopping training (design §8). At the end of
// an iteration every rank copies its own pieces to the host (host_copy.h)
// and a background thread writes them into RUN/checkpoints/iter-N.partial/,
// fsyncing each file. While a save is pending the loop polls it once per
// iteration, collectively: once every rank's files are on disk, rank 0
// writes the manifest, renames the folder to iter-N, points `latest` at it
// (by rename) and deletes checkpoints beyond keep_last. A job killed at any
// moment therefore leaves the previous complete checkpoint as `latest`.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/host_copy.h"
#include "checkpoint/module_state.h"
#include "dist/comm.h"
#include "hetero/checkpoint_manifest.h"
#include "hetero/run_dir.h"

namespace hetero {

class CheckpointWriter {
 public:
  CheckpointWriter(const RunPaths& paths, int rank, int world_size, int keep_last);
  ~CheckpointWriter();

  // Rank 0, before training: removes iter-N.partial folders a killed job left.
  void remove_stale_partials() const;

  // Before training: prepares the host buffers that saves of pieces shaped
  // like `pieces` copy into (HostCopy::reserve), in the background.
  void reserve(const std::vector<SavedTensor>& pieces);
  // Starts saving `pieces` as iteration `progress.iteration`. A save still
  // pending completes first (collective over `world`, like poll).
  // `config_yaml` is what rank 0 records in the manifest.
  void begin(const Group& world, std::vector<SavedTensor> pieces, const CheckpointProgress& progress,
             const std::string& config_yaml);
  // Collective while a save is pending (every rank calls it at the same
  // point): completes the save once every rank has written its files; with
  // `wait`, blocks until then. Throws when any rank's writing failed.
  void poll(const Group& world, bool wait);
  bool pending() const { return pending_; }
  // Before the optimizer changes what a pending save copies.
  void order_before_updates() { copy_.order_before_updates(); }
  // Testing: this rank kills itself (SIGKILL) halfway through writing the
  // save of `iter`, so that a job dies mid-save.
  void kill_during_save_at(int iter) { kill_at_ = iter; }

 private:
  void write_files(int iter);  // the background thread
  void complete(int iter);     // rank 0, once every rank's files are written

  RunPaths paths_;
  int rank_, world_size_, keep_last_;
  HostCopy copy_;
  std::vector<CheckpointPiece> pieces_;
  CheckpointProgress progress_;
  std::string config_yaml_;
  std::thread thread_;
  std::atomic<int> state_{0};  // 0 written, 1 writing, 2 failed
  std::string error_;          // set before state_ becomes 2
  bool pending_ = false;
  int kill_at_ = -1;
};

}  // namespace hetero
