#include "hetero/run_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int err = errno;
  const bool flushed = written && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (written && !flushed) err = errno;
  std::fclose(f);
  if (!flushed) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(err) + " (the earlier file, if any, is unchanged)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot replace " + path + ": " + std::strerror(err));
  }
}

std::string RunPaths::rank_log(int rank) const { return rank_file(logs_dir(), "rank", rank, "log"); }
std::string RunPaths::rank_trace(int rank) const { return rank_file(trace_dir(), "rank", rank, "json"); }
std::string RunPaths::rank_kernel_trace(int rank) const {
  return rank_file(trace_dir(), "kernels-rank", rank, "json");
}
std::string RunPaths::embeddings_file(int iter) const {
  char name[64];
  std::snprintf(name, sizeof(name), "iter-%06d.safetensors", iter);
  return embeddings_dir() + "/" + name;
}

std::string RunPaths::checkpoint_dir(int iter) const {
  char name[64];
  std::snprintf(name, sizeof(name), "iter-%07d", iter);
  return checkpoints_dir() + "/" + name;
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
  j["data_skipped"] = m.data_skipped;
  j["bridge_bytes"] = m.bridge_bytes;
  j["memory_allocated_bytes"] = m.memory_allocated_bytes;
  j["memory_max_allocated_bytes"] = m.memory_max_allocated_bytes;
  j["memory_max_reserved_bytes"] = m.memory_max_reserved_bytes;
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
      m.data_skipped = j.value("data_skipped", std::int64_t{0});
      m.bridge_bytes = j.value("bridge_bytes", std::int64_t{0});
      m.memory_allocated_bytes = j.value("memory_allocated_bytes", std::int64_t{0});
      m.memory_max_allocated_bytes = j.value("memory_max_allocated_bytes", std::int64_t{0});
      m.memory_max_reserved_bytes = j.value("memory_max_reserved_bytes", std::int64_t{0});
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

std::string format_memory_line(const IterationMetrics& m) {
  auto mb = [](std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "(after %d iterations) memory (MB), the largest of any rank | allocated: %.1f | max allocated: %.1f |"
                " max reserved: %.1f",
                m.iter, mb(m.memory_allocated_bytes), mb(m.memory_max_allocated_bytes),
                mb(m.memory_max_reserved_bytes));
  return buf;
}

int truncate_metrics_after(const std::string& path, int iter) {
  std::ifstream in(path);
  if (!in) return 0;
  std::string kept, line;
  int dropped = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    int row_iter = -1;
    try {
      row_iter = nlohmann::json::parse(line).at("iter").get<int>();
    } catch (const std::exception&) {
    }
    if (row_iter >= 1 && row_iter <= iter)
      kept += line + "\n";
    else
      ++dropped;
  }
  in.close();
  if (dropped == 0) return 0;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kept;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp + " (disk full?); " + path + " is unchanged");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  return dropped;
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + " for writing: " + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::write(const IterationMetrics& m) {
  const std::string line = metrics_to_json(m) + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      // A torn last line would make the whole file unreadable to the tools.
      if (done > 0) (void)!::ftruncate(fd_, ::lseek(fd_, 0, SEEK_CUR) - static_cast<off_t>(done));
      throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace hetero
