// TensorBoard event files, scalars only, written without TensorFlow or a
// protobuf library: a file of TFRecords, each one tensorflow.Event with its
// few protobuf fields encoded by hand (design §8: RUN/tensorboard/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "hetero/run_dir.h"

namespace hetero {

// CRC-32C (Castagnoli), the checksum TFRecord uses.
std::uint32_t crc32c(const void* data, std::size_t size);
// TFRecord stores CRCs masked, so that a CRC of bytes that hold CRCs stays
// distinctive: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
std::uint32_t mask_crc(std::uint32_t crc);

// Appends scalar events to dir/events.out.tfevents.<unix time>.<hostname>.
// The file opens with the file_version event ("brain.Event:2"); every record
// is flushed as written, so a crashed run keeps what it logged.
class TensorBoardWriter {
 public:
  explicit TensorBoardWriter(const std::string& dir);  // creates dir; throws if it cannot open the file
  const std::string& path() const { return path_; }
  // One Event{wall_time, step, summary{value{tag, simple_value}}}; the value
  // is stored as float, as TensorBoard's simple_value is.
  void add_scalar(const std::string& tag, double value, std::int64_t step);

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

// Megatron-LM's training_log scalars of one iteration: "lm loss",
// "learning-rate", "grad-norm", "num-zeros" (neither for a step skipped on
// non-finite gradients), "batch-size", "iteration-time" (seconds, as
// Megatron) and, for a model with MoE layers (`moe`), Megatron's MoE tag
// "load_balancing_loss"; at step = iteration, each also as
// "<tag> vs samples" at step = consumed samples.
void add_iteration_scalars(TensorBoardWriter& tb, const IterationMetrics& m, int global_batch_size, bool moe);

}  // namespace hetero
