#include "hetero/run_dir.h"

#include <cstdio>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace hetero {
namespace {
std::string rank_file(const std::string& dir, const char* prefix, int rank, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%05d.%s", prefix, rank, ext);
  return dir + "/" + name;
}
}  // namespace

std::string RunPaths::rank_log(int rank) const { return rank_file(logs_dir(), "rank", rank, "log"); }
std::string RunPaths::rank_trace(int rank) const { return rank_file(trace_dir(), "rank", rank, "json"); }
std::string RunPaths::embeddings_file(int iter) const {
  char name[64];
  std::snprintf(name, sizeof(name), "iter-%06d.safetensors", iter);
  return embeddings_dir() + "/" + name;
}

std::string RunPaths::weights_file(int iter, const std::string& module, int stage) const {
  char name[64];
  std::snprintf(name, sizeof(name), "iter-%06d", iter);
  return weights_dir() + "/" + name + "/" + module + "-stage-" + std::to_string(stage) + ".safetensors";
}

std::string metrics_to_json(const IterationMetrics& m) {
  nlohmann::ordered_json j;
  j["iter"] = m.iter;
  j["consumed_samples"] = m.consumed_samples;
  j["lm_loss"] = m.lm_loss;
  j["load_balancing_loss"] = m.load_balancing_loss;
  j["grad_norm"] = m.grad_norm;
  j["lr"] = m.lr;
  j["loss_scale"] = m.loss_scale;
  j["num_zeros"] = m.num_zeros;
  j["skipped"] = m.skipped;
  j["iter_time_ms"] = m.iter_time_ms;
  j["tokens"] = m.tokens;
  j["tflops_per_gpu"] = m.tflops_per_gpu;
  j["encoder_stall_ms"] = m.encoder_stall_ms;
  j["bridge_wait_ms"] = m.bridge_wait_ms;
  j["images"] = m.images;
  j["bridge_bytes"] = m.bridge_bytes;
  return j.dump();
}

namespace {
// JSON has no NaN or infinity: they are written as null and read back as NaN.
double number(const nlohmann::json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  return it->get<double>();
}
}  // namespace

std::vector<IterationMetrics> read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open metrics file " + path);
  std::vector<IterationMetrics> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      IterationMetrics m;
      m.iter = j.at("iter").get<int>();
      m.consumed_samples = j.value("consumed_samples", std::int64_t{0});
      if (!j.contains("lm_loss")) throw std::runtime_error("no lm_loss");
      m.lm_loss = number(j, "lm_loss", 0.0);
      m.load_balancing_loss = number(j, "load_balancing_loss", 0.0);
      m.grad_norm = number(j, "grad_norm", 0.0);
      m.lr = number(j, "lr", 0.0);
      m.loss_scale = number(j, "loss_scale", 1.0);
      m.num_zeros = j.value("num_zeros", std::int64_t{0});
      m.skipped = j.value("skipped", 0);
      m.iter_time_ms = number(j, "iter_time_ms", 0.0);
      m.tokens = j.value("tokens", std::int64_t{0});
      m.tflops_per_gpu = number(j, "tflops_per_gpu", 0.0);
      m.encoder_stall_ms = number(j, "encoder_stall_ms", 0.0);
      m.bridge_wait_ms = number(j, "bridge_wait_ms", 0.0);
      m.images = j.value("images", std::int64_t{0});
      m.bridge_bytes = j.value("bridge_bytes", std::int64_t{0});
      out.push_back(m);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": not a metrics record: " + e.what());
    }
  }
  return out;
}

std::string format_iteration_line(const IterationMetrics& m, int train_iters, int global_batch_size) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                " iteration %8d/%8d | consumed samples: %12lld | elapsed time per iteration (ms): %.1f |"
                " learning rate: %.6E | global batch size: %5d | lm loss: %.6E | loss scale: %.1f |"
                " grad norm: %.3f | num zeros: %.1f | number of skipped iterations: %3d |"
                " number of nan iterations: %3d |",
                m.iter, train_iters, static_cast<long long>(m.consumed_samples), m.iter_time_ms, m.lr,
                global_batch_size, m.lm_loss, m.loss_scale, m.grad_norm, static_cast<double>(m.num_zeros),
                m.skipped, m.skipped);
  return buf;
}

MetricsWriter::MetricsWriter(const std::string& path) : out_(path, std::ios::app), path_(path) {
  if (!out_) throw std::runtime_error("cannot open " + path + " for writing");
}

void MetricsWriter::write(const IterationMetrics& m) {
  out_ << metrics_to_json(m) << "\n";
  out_.flush();
  if (!out_) throw std::runtime_error("failed writing " + path_);
}

}  // namespace hetero
