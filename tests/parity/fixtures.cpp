#include "fixtures.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace parity_test {

hetero::IterationMetrics metrics(int iter, double loss, double grad_norm, double lr) {
  hetero::IterationMetrics m;
  m.iter = iter;
  m.consumed_samples = iter * 8;
  m.lm_loss = loss;
  m.grad_norm = grad_norm;
  m.lr = lr;
  m.iter_time_ms = 100 + iter;
  return m;
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_metrics(const std::string& run_dir, const std::vector<hetero::IterationMetrics>& records) {
  std::string text;
  for (const auto& m : records) text += hetero::metrics_to_json(m) + "\n";
  write_text(hetero::RunPaths{run_dir}.metrics(), text);
}

void write_dump(const std::string& run_dir, int iter, const std::map<std::string, hetero::SafeTensor>& tensors) {
  const hetero::RunPaths paths{run_dir};
  fs::create_directories(paths.embeddings_dir());
  hetero::write_safetensors(paths.embeddings_file(iter), tensors,
                            {{"iter", std::to_string(iter)}, {"format", "hetero-embeddings-v1"}});
}

hetero::SafeTensor pattern_tensor(int64_t rows, int64_t cols, int seed) {
  hetero::SafeTensor t;
  t.shape = {rows, cols};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t.values.push_back(static_cast<float>(std::sin(0.7 * seed + 1.3 * r + 0.37 * c + 0.1 * r * c) + 0.25));
  return t;
}

std::vector<float> rotate(const std::vector<float>& v, double theta) {
  // u: a unit vector orthogonal to v (Gram-Schmidt on the coordinate axis
  // where v is smallest), then w = cos(theta) v + sin(theta) |v| u.
  const size_t n = v.size();
  double norm2 = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    norm2 += double(v[i]) * v[i];
    if (std::fabs(v[i]) < std::fabs(v[k])) k = i;
  }
  std::vector<double> u(n, 0.0);
  u[k] = 1;
  const double proj = v[k] / norm2;
  double un = 0;
  for (size_t i = 0; i < n; ++i) {
    u[i] -= proj * v[i];
    un += u[i] * u[i];
  }
  un = std::sqrt(un);
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i)
    w[i] = static_cast<float>(std::cos(theta) * v[i] + std::sin(theta) * std::sqrt(norm2) * u[i] / un);
  return w;
}

std::vector<float> row(const hetero::SafeTensor& t, int64_t r) {
  const int64_t cols = t.shape.back();
  return {t.values.begin() + r * cols, t.values.begin() + (r + 1) * cols};
}

void set_row(hetero::SafeTensor& t, int64_t r, const std::vector<float>& v) {
  const int64_t cols = t.shape.back();
  std::copy(v.begin(), v.end(), t.values.begin() + r * cols);
}

namespace {
std::string quote(const std::string& a) {
  std::string out = "'";
  for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

ProcessResult run_parity(const std::vector<std::string>& args) {
  TempDir tmp;
  std::string cmd = quote(HETERO_PARITY_BIN);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(tmp / "out") + " 2>" + quote(tmp / "err");
  const int status = std::system(cmd.c_str());
  ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(tmp / "out");
  r.err = read_text(tmp / "err");
  return r;
}

}  // namespace parity_test
