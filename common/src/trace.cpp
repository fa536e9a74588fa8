#include "hetero/trace.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace hetero {

TraceWriter::TraceWriter(const std::string& path, const TraceRankInfo& info)
    : out_(path, std::ios::trunc), path_(path), pid_(info.rank) {
  if (!out_) throw std::runtime_error("cannot open trace file " + path);
  const std::string name = "rank " + std::to_string(info.rank) + " " + info.module + " " +
                           (info.module == "encoder" ? "replica " : "lane ") + std::to_string(info.replica) +
                           " stage " + std::to_string(info.stage);
  nlohmann::json process{{"name", "process_name"}, {"ph", "M"}, {"pid", pid_}, {"args", {{"name", name}}}};
  nlohmann::json rank{{"name", "hetero_rank"},
                      {"ph", "M"},
                      {"pid", pid_},
                      {"args",
                       {{"module", info.module}, {"replica", info.replica}, {"stage", info.stage},
                        {"tp_rank", info.tp_rank}}}};
  out_ << "[\n" << process.dump() << ",\n" << rank.dump() << ",\n";
}

TraceWriter::~TraceWriter() {
  try {
    close();
  } catch (...) {
  }
}

void TraceWriter::region(const char* name, std::int64_t start_us, std::int64_t dur_us, int iter, int microbatch) {
  nlohmann::json args{{"iter", iter}};
  if (microbatch >= 0) args["microbatch"] = microbatch;
  nlohmann::json e{{"name", name}, {"ph", "X"}, {"ts", start_us}, {"dur", dur_us}, {"pid", pid_}, {"tid", 0},
                   {"args", args}};
  out_ << e.dump() << ",\n";
}

void TraceWriter::flush() {
  out_.flush();
  if (!out_) throw std::runtime_error("failed writing trace file " + path_);
}

void TraceWriter::close() {
  if (closed_) return;
  closed_ = true;
  // A last metadata event makes the trailing comma legal JSON.
  out_ << R"({"name":"trace_end","ph":"M","pid":)" << pid_ << "}\n]\n";
  out_.flush();
}

}  // namespace hetero
