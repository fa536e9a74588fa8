#include "telemetry/embedding_dump.h"

#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>

#include "hetero/errors.h"
#include "hetero/run_dir.h"
#include "hetero/safetensors.h"

namespace hetero {
namespace {
const char* const kFamilies[] = {"vision_proj", "combined_embeddings"};

int family_index(const std::string& name) {
  for (int i = 0; i < 2; ++i)
    if (name == kFamilies[i]) return i;
  throw std::logic_error("unknown embedding family " + name);
}
}  // namespace

EmbeddingDump::EmbeddingDump(std::set<int> iters, const Group* lanes, std::string run_dir)
    : iters_(std::move(iters)), lanes_(lanes), run_dir_(std::move(run_dir)) {}

void EmbeddingDump::add(const std::string& family, std::uint64_t sample, const at::Tensor& rows) {
  entries_.push_back({family_index(family), sample, rows.detach().to(at::kCPU, at::kFloat).contiguous()});
}

void EmbeddingDump::write(int iter) {
  if (!collecting(iter)) return;
  const Group& g = *lanes_;
  // Flatten this rank's entries: an index of (family, sample, rows, cols)
  // and one float buffer.
  std::vector<int64_t> index;
  std::vector<at::Tensor> flat;
  for (const auto& e : entries_) {
    index.insert(index.end(), {e.family, static_cast<int64_t>(e.sample), e.rows.size(0), e.rows.size(1)});
    flat.push_back(e.rows.reshape({-1}));
  }
  entries_.clear();
  at::Tensor local_index = at::tensor(index, at::kLong);
  at::Tensor local_data = flat.empty() ? at::empty({0}, at::kFloat) : at::cat(flat);

  std::map<std::string, SafeTensor> tensors;
  auto take = [&](const at::Tensor& idx, const at::Tensor& data) {
    const int64_t* p = idx.data_ptr<int64_t>();
    const float* d = data.data_ptr<float>();
    int64_t offset = 0;
    for (int64_t i = 0; i + 3 < idx.numel(); i += 4) {
      SafeTensor t;
      t.shape = {p[i + 2], p[i + 3]};
      const int64_t n = p[i + 2] * p[i + 3];
      t.values.assign(d + offset, d + offset + n);
      offset += n;
      tensors[std::string(kFamilies[p[i]]) + "." + std::to_string(p[i + 1])] = std::move(t);
    }
  };

  // Lanes send their index and data to the group's first rank, sizes first.
  // Gloo carries CPU tensors; NCCL needs them on the rank's device.
  const at::Device comm_device = g.device;
  if (g.rank != 0) {
    at::Tensor sizes = at::tensor(std::vector<int64_t>{local_index.numel(), local_data.numel()}, at::kLong).to(comm_device);
    std::vector<at::Tensor> v{sizes};
    g.comm->send(v, 0, 0)->wait();
    if (local_index.numel() > 0) {
      std::vector<at::Tensor> vi{local_index.to(comm_device)}, vd{local_data.to(comm_device)};
      g.comm->send(vi, 0, 1)->wait();
      g.comm->send(vd, 0, 2)->wait();
    }
    return;
  }
  take(local_index, local_data);
  for (int src = 1; src < g.size(); ++src) {
    std::vector<at::Tensor> v{at::empty({2}, at::TensorOptions().dtype(at::kLong).device(comm_device))};
    g.comm->recv(v, src, 0)->wait();
    const at::Tensor sizes = v[0].cpu();
    const int64_t n_index = sizes[0].item<int64_t>(), n_data = sizes[1].item<int64_t>();
    if (n_index == 0) continue;
    std::vector<at::Tensor> vi{at::empty({n_index}, at::TensorOptions().dtype(at::kLong).device(comm_device))};
    std::vector<at::Tensor> vd{at::empty({n_data}, at::TensorOptions().dtype(at::kFloat).device(comm_device))};
    g.comm->recv(vi, src, 1)->wait();
    g.comm->recv(vd, src, 2)->wait();
    take(vi[0].cpu(), vd[0].cpu());
  }
  const RunPaths paths{run_dir_};
  std::filesystem::create_directories(paths.embeddings_dir());
  write_safetensors(paths.embeddings_file(iter), tensors,
                    {{"iter", std::to_string(iter)}, {"format", "hetero-embeddings-v1"}});
}

}  // namespace hetero
