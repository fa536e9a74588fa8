// Synthesized runs for the profiler tests: per-rank events with planted
// stalls, waits and a straggler, written as the trainer's JSON traces
// (TraceWriter), as nsys SQLite exports, and a config.yaml.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "hetero/trace.h"

namespace hetero::profiler::test {

using hetero::test_support::TempDir;

struct SynthEvent {
  int rank;
  const char* region;  // hetero::regions
  std::int64_t start_us, dur_us;
  int iter, microbatch;
};

struct SynthRun {
  std::vector<TraceRankInfo> ranks;  // index = rank
  std::vector<SynthEvent> events;
  // config.yaml's topology (hetero): encoder ranks [0, enc), llm after.
  int encoder_ranks = 0, encoder_tp = 1, llm_tp = 1, llm_pp = 1, microbatches = 1;
  int gpus_per_node = 0, nodes = 0, global_batch = 0, micro_batch = 1;

  void add(int rank, const char* region, std::int64_t start_us, std::int64_t dur_us, int iter, int mb = -1) {
    events.push_back({rank, region, start_us, dur_us, iter, mb});
  }
  // RUN/trace/rank-NNNNN.json through TraceWriter, and RUN/config.yaml.
  void write_run(const std::string& run_dir, bool close_files = true) const;
  void write_config(const std::string& run_dir) const;
  // One nsys export per rank: dir/rank-NNNNN.sqlite; returns the paths in
  // rank order. Session start of rank r: epoch_us*1000 + r*1000 ns earlier
  // times are stored relative to it.
  std::vector<std::string> write_nsys(const std::string& dir, std::int64_t session_start_us) const;
};

// The planted run of the report tests (times in µs; see fixtures.cpp):
// 2 encoder replicas (1 rank each) feeding 8 LLM lanes of 2 pipeline
// stages (16 ranks), 2 microbatches, `iterations` iterations, each
// starting at kEpochUs + iter * kIterUs on every rank.
struct Planted {
  static constexpr std::int64_t kEpochUs = 1'795'390'593'000'000;  // a 2026 wall clock
  static constexpr std::int64_t kIterUs = 100'000;
  static constexpr int kMicrobatches = 2;
  // Per microbatch unless noted.
  static constexpr std::int64_t kData = 10, kEncFwd = 100, kEncBwd = 50, kSend = 5;
  static constexpr std::int64_t kLlmFwd = 200, kLlmBwd = 300, kStraggle = 100;  // straggler: forward + kStraggle
  static constexpr std::int64_t kEncGrad = 30, kLlmGrad = 40, kOptim = 20;      // per iteration
  static constexpr int kStragglerRank = 17;  // lane 7, stage 1
  static constexpr std::int64_t kWarmupExtra = 5000;  // data wait added to every rank in iteration 1
  // Planted per iteration and microbatch (vary with the iteration so the
  // median is a real choice):
  static std::int64_t encoder_stall(int iter) { return 250 + 10 * (iter % 3); }  // LLM stage 0
  static std::int64_t bridge_wait(int iter) { return 400 + 20 * (iter % 4); }    // encoder
  static std::int64_t pp_wait0(int iter) { return 120 + iter % 2; }              // stage 0, before backward
  static std::int64_t pp_wait1(int iter) { return 330 + 3 * (iter % 5); }        // stage 1, before forward
  static SynthRun make(int iterations);
};

// The critical-path scenario (one iteration, README's example): encoder
// rank 0, LLM lane 0 stages 0 and 1 on ranks 1 and 2, one microbatch.
SynthRun critical_path_run(bool late_stage1_optimizer);

}  // namespace hetero::profiler::test
