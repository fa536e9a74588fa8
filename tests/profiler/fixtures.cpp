#include "fixtures.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "hetero/regions.h"

namespace fs = std::filesystem;

namespace hetero::profiler::test {

namespace {
std::string rank_name(int rank, const char* ext) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "rank-%05d.%s", rank, ext);
  return buf;
}
}  // namespace

void SynthRun::write_run(const std::string& run_dir, bool close_files) const {
  fs::create_directories(run_dir + "/trace");
  std::vector<std::vector<const SynthEvent*>> per_rank(ranks.size());
  for (const SynthEvent& e : events) per_rank.at(static_cast<std::size_t>(e.rank)).push_back(&e);
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const std::string path = run_dir + "/trace/" + rank_name(static_cast<int>(r), "json");
    {
      TraceWriter w(path, ranks[r], 64);
      for (const SynthEvent* e : per_rank[r]) w.region(e->region, e->start_us, e->dur_us, e->iter, e->microbatch);
    }
    if (!close_files) {
      // As a crash leaves it: no closing event, no "]", a torn last line.
      std::ifstream in(path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      text = text.substr(0, text.rfind("{\"name\":\"trace_end\""));
      std::ofstream(path, std::ios::trunc) << text << "{\"name\":\"llm/forw";
    }
  }
  write_config(run_dir);
}

void SynthRun::write_config(const std::string& run_dir) const {
  const int world = static_cast<int>(ranks.size());
  const int llm_ranks = world - encoder_ranks;
  const int enc_dp = encoder_ranks / encoder_tp;
  const int lanes = llm_ranks / (llm_tp * llm_pp);
  std::ofstream out(run_dir + "/config.yaml");
  out << "name: synthetic\ntrain:\n  global_batch_size: " << (global_batch ? global_batch : microbatches * lanes)
      << "\n  micro_batch_size: " << micro_batch << "\nscale:\n  nodes: " << nodes
      << "\n  gpus_per_node: " << gpus_per_node << "\ntopology:\n  mode: hetero\n  world_size: " << world
      << "\n  encoder:\n    ranks: 0-" << encoder_ranks - 1 << "\n    tp: " << encoder_tp
      << "\n    cp: 1\n    pp: 1\n    dp: " << enc_dp << "\n  llm:\n    ranks: " << encoder_ranks << "-" << world - 1
      << "\n    tp: " << llm_tp << "\n    cp: 1\n    pp: " << llm_pp << "\n    dp: " << lanes
      << "\n  lanes_per_encoder: " << (enc_dp <= lanes ? lanes / enc_dp : 1)
      << "\n  encoders_per_lane: " << (enc_dp > lanes ? enc_dp / lanes : 1)
      << "\n  num_microbatches: " << microbatches << "\n";
}

namespace {
void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + msg + " in " + sql);
  }
}
}  // namespace

std::vector<std::string> SynthRun::write_nsys(const std::string& dir, std::int64_t session_start_us) const {
  fs::create_directories(dir);
  std::vector<std::string> paths;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    const std::string path = dir + "/report-" + rank_name(static_cast<int>(r), "sqlite");
    fs::remove(path);
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("cannot create " + path);
    // The tables and columns `nsys export --type sqlite` writes.
    exec(db, "CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL)");
    exec(db,
         "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL, rangeId "
         "INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, endGlobalTid INTEGER, textId "
         "INTEGER REFERENCES StringIds(id), domainId INTEGER, uint64Value INTEGER, int64Value INTEGER, doubleValue "
         "REAL, uint32Value INTEGER, int32Value INTEGER, floatValue REAL, jsonTextId INTEGER, jsonText TEXT)");
    exec(db, "CREATE TABLE TARGET_INFO_SESSION_START_TIME (utcEpochNs INTEGER, utcTime TEXT, localTime TEXT)");
    // Each rank's session started at its own time (another node, another process).
    const std::int64_t start_ns = (session_start_us + static_cast<std::int64_t>(r) * 1000) * 1000;
    exec(db, "INSERT INTO TARGET_INFO_SESSION_START_TIME VALUES (" + std::to_string(start_ns) + ", '', '')");
    exec(db, "BEGIN");
    // The domain, then a range of another library in the default domain.
    exec(db, "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (0, NULL, 75, "
             "'hetero', 1, 7)");
    exec(db, "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (5, 999999999, 59, "
             "'llm/forward iter=2 mb=0', 1, 0)");
    exec(db, "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (5, 6, 59, "
             "'cudnn:convolution', 1, 7)");
    int next_id = 1;
    int n = 0;
    for (const SynthEvent& e : events) {
      if (e.rank != static_cast<int>(r)) continue;
      std::string name = std::string(e.region) + " iter=" + std::to_string(e.iter);
      if (e.microbatch >= 0) name += " mb=" + std::to_string(e.microbatch);
      const std::int64_t s = e.start_us * 1000 - start_ns, t = (e.start_us + e.dur_us) * 1000 - start_ns;
      // Half the names inline in `text`, half through StringIds, as nsys mixes them.
      if (n++ % 2) {
        const int id = next_id++;
        exec(db, "INSERT INTO StringIds VALUES (" + std::to_string(id) + ", '" + name + "')");
        exec(db, "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, textId, domainId) VALUES (" +
                     std::to_string(s) + ", " + std::to_string(t) + ", 59, NULL, 1, " + std::to_string(id) + ", 7)");
      } else {
        exec(db, "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (" +
                     std::to_string(s) + ", " + std::to_string(t) + ", 59, '" + name + "', 1, 7)");
      }
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
    paths.push_back(path);
  }
  return paths;
}

SynthRun Planted::make(int iterations) {
  SynthRun run;
  run.encoder_ranks = 2;
  run.llm_pp = 2;
  run.microbatches = kMicrobatches;
  run.gpus_per_node = 2;
  run.nodes = 9;
  const int lanes = 8;
  // Roles as the trainer gives them: llm grid tp, cp, dp, pp (tp fastest).
  for (int r = 0; r < 18; ++r) {
    TraceRankInfo info;
    info.rank = r;
    if (r < 2) {
      info.module = "encoder";
      info.replica = r;
    } else {
      info.module = "llm";
      info.replica = (r - 2) % lanes;
      info.stage = (r - 2) / lanes;
    }
    run.ranks.push_back(info);
  }
  namespace R = hetero::regions;
  for (int iter = 1; iter <= iterations; ++iter) {
    const std::int64_t base = kEpochUs + iter * kIterUs;
    for (const TraceRankInfo& info : run.ranks) {
      std::int64_t t = base;
      const int r = info.rank;
      auto ev = [&](const char* region, std::int64_t dur, int mb) {
        run.add(r, region, t, dur, iter, mb);
        t += dur;
      };
      const std::int64_t data = kData + (iter == 1 ? kWarmupExtra : 0);
      for (int mb = 0; mb < kMicrobatches; ++mb) {
        const std::int64_t d = mb == 0 ? data : kData;
        if (info.module == "encoder") {
          ev(R::kDataWait, d, mb);
          ev(R::kEncoderForward, kEncFwd, mb);
          ev(R::kBridgeSend, kSend, mb);
          ev(R::kBridgeWait, bridge_wait(iter), mb);
          ev(R::kEncoderBackward, kEncBwd, mb);
        } else if (info.stage == 0) {
          ev(R::kDataWait, d, mb);
          ev(R::kLlmEncoderStall, encoder_stall(iter), mb);
          ev(R::kLlmForward, kLlmFwd, mb);
          ev(R::kPpSend, kSend, mb);
          ev(R::kPpWait, pp_wait0(iter), mb);
          ev(R::kLlmBackward, kLlmBwd, mb);
          ev(R::kBridgeSend, kSend, mb);
        } else {
          ev(R::kDataWait, d, mb);
          ev(R::kPpWait, pp_wait1(iter), mb);
          ev(R::kLlmForward, kLlmFwd + (r == kStragglerRank ? kStraggle : 0), mb);
          ev(R::kLlmBackward, kLlmBwd, mb);
          ev(R::kPpSend, kSend, mb);
        }
      }
      ev(R::kGradReduce, info.module == "encoder" ? kEncGrad : kLlmGrad, -1);
      ev(R::kOptimStep, kOptim, -1);
    }
  }
  return run;
}

SynthRun critical_path_run(bool late_stage1_optimizer) {
  SynthRun run;
  run.encoder_ranks = 1;
  run.llm_pp = 2;
  run.microbatches = 1;
  run.gpus_per_node = 1;
  run.nodes = 3;
  run.ranks = {{0, "encoder", 0, 0, 0}, {1, "llm", 0, 0, 0}, {2, "llm", 0, 1, 0}};
  namespace R = hetero::regions;
  const std::int64_t b = Planted::kEpochUs;
  auto at = [&](int rank, const char* region, std::int64_t from, std::int64_t to, int mb = 0) {
    run.add(rank, region, b + from, to - from, 1, mb);
  };
  at(0, R::kEncoderForward, 0, 100);
  at(0, R::kBridgeSend, 100, 110);
  at(0, R::kBridgeWait, 110, 700);
  at(0, R::kEncoderBackward, 700, 750);
  at(0, R::kGradReduce, 750, 760, -1);
  at(0, R::kOptimStep, 780, 860, -1);

  at(1, R::kLlmEncoderStall, 0, 130);
  at(1, R::kLlmForward, 130, 330);
  at(1, R::kPpSend, 330, 335);
  at(1, R::kPpWait, 335, 640);
  at(1, R::kLlmBackward, 640, 680);
  at(1, R::kBridgeSend, 680, 690);
  at(1, R::kGradReduce, 690, 695, -1);
  at(1, R::kOptimStep, 700, 860, -1);

  at(2, R::kPpWait, 0, 345);
  at(2, R::kLlmForward, 345, 445);
  at(2, R::kLlmBackward, 445, 630);
  at(2, R::kPpSend, 630, 635);
  at(2, R::kGradReduce, 640, 700, -1);
  if (late_stage1_optimizer)
    at(2, R::kOptimStep, 800, 860, -1);
  else
    at(2, R::kOptimStep, 720, 860, -1);
  return run;
}

}  // namespace hetero::profiler::test
