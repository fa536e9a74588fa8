// The run directory (design §8): the contract between trainer, profiler and
// parity. Paths, the metrics record and the human iteration line live here
// and nowhere else.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace hetero {

struct RunPaths {
  std::string root;
  std::string config() const { return root + "/config.yaml"; }
  std::string metrics() const { return root + "/metrics.jsonl"; }
  std::string logs_dir() const { return root + "/logs"; }
  std::string trace_dir() const { return root + "/trace"; }
  std::string embeddings_dir() const { return root + "/embeddings"; }
  std::string checkpoints_dir() const { return root + "/checkpoints"; }
  // checkpoints/iter-0000100: one complete checkpoint (checkpoint_manifest.h);
  // written as iter-0000100.partial and renamed when every rank is done.
  std::string checkpoint_dir(int iter) const;
  std::string checkpoint_partial_dir(int iter) const { return checkpoint_dir(iter) + ".partial"; }
  // checkpoints/latest: text, the iteration of the newest complete
  // checkpoint; replaced by rename.
  std::string checkpoint_latest() const { return checkpoints_dir() + "/latest"; }
  // tensorboard/events.out.tfevents.<unix time>.<hostname> (tensorboard.h),
  // from the logging rank when hetero-train runs with --tensorboard.
  std::string tensorboard_dir() const { return root + "/tensorboard"; }
  std::string rank_log(int rank) const;    // logs/rank-00000.log
  std::string rank_trace(int rank) const;  // trace/rank-00000.json
  // trace/kernels-rank-00000.json: the Chrome trace of hetero-train --kernel-trace-at (kernel_trace.h).
  std::string rank_kernel_trace(int rank) const;
  // embeddings/iter-000001.safetensors (safetensors.h): F32 tensors
  // "vision_proj.<s>" [image rows of sample s, hidden] and
  // "combined_embeddings.<s>" [seq_length, hidden], s the global sample index;
  // metadata {"iter": "N", "format": "hetero-embeddings-v1"}.
  std::string embeddings_file(int iter) const;
  std::string weights_dir() const { return root + "/weights"; }
  // weights/iter-000005/<module>-stage-<s>.safetensors: F32 tensors, full
  // (tensor-parallel shards joined) under their parameter names, of one
  // module's pipeline stage after iteration `iter` (0: at initialisation);
  // MoE experts in <module>-experts-ep<e>-stage-<s>.safetensors, one file
  // per expert-parallel rank e (etp shards joined);
  // metadata {"iter", "module", "stage", "format": "hetero-weights-v1"}.
  std::string weights_file(int iter, const std::string& module, int stage) const;
};

// Writes `text` to `path` through a temporary file renamed over it, so a
// failed write (a full disk) leaves the earlier file whole. Throws
// std::runtime_error naming the path and the system's reason.
void write_file_atomically(const std::string& path, const std::string& text);

// One line of metrics.jsonl. Fields may be added, never renamed.
struct IterationMetrics {
  int iter = 0;
  std::int64_t consumed_samples = 0;
  double lm_loss = 0;
  double load_balancing_loss = 0;
  double grad_norm = 0;
  double lr = 0;
  double loss_scale = 1;
  std::int64_t num_zeros = 0;
  int skipped = 0;  // iterations skipped so far (non-finite gradients)
  double iter_time_ms = 0;
  std::int64_t tokens = 0;
  double tflops_per_gpu = 0;
  double encoder_stall_ms = 0;
  double bridge_wait_ms = 0;
  std::int64_t images = 0;  // images in the global batch
  std::int64_t data_skipped = 0;  // bad samples and images skipped so far (data.skip_bad_samples)
  std::int64_t bridge_bytes = 0;  // image embeddings sent over the bridge this iteration, by the busiest encoder rank
  // The CUDA caching allocator's counters after this iteration, the largest
  // of any rank, in bytes (0 off CUDA): tensors now, tensors at most since
  // the start, and the most the allocator reserved from the driver.
  std::int64_t memory_allocated_bytes = 0;
  std::int64_t memory_max_allocated_bytes = 0;
  std::int64_t memory_max_reserved_bytes = 0;
};

std::string metrics_to_json(const IterationMetrics& m);
// Reads every line of a metrics.jsonl; throws std::runtime_error naming the
// file and line on malformed input.
std::vector<IterationMetrics> read_metrics(const std::string& path);

// Megatron's iteration line, so existing log scrapers keep working.
std::string format_iteration_line(const IterationMetrics& m, int train_iters, int global_batch_size);
// Megatron's memory line (after iteration m.iter, MB), from m's memory_* fields.
std::string format_memory_line(const IterationMetrics& m);

// A start that continues a run after iteration `iter` (0: a fresh start)
// keeps metrics.jsonl's rows up to `iter` and drops the rest (rows of
// iterations it will run again, or a torn last line); rewritten by
// temporary file + rename. Returns the number of rows dropped.
int truncate_metrics_after(const std::string& path, int iter);

// Appends metrics lines, flushing each so a crashed run keeps what it did.
// A failed write (a full disk) throws std::runtime_error naming the path and
// the system's reason; the lines before it stay as they were.
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const IterationMetrics& m);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace hetero
