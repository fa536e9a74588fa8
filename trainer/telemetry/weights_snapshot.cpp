#include "telemetry/weights_snapshot.h"

#include <filesystem>

#include "hetero/safetensors.h"

namespace hetero {

void save_weights(const ParamSet& params, const ModuleGroups& g, const std::string& module, int iter,
                  const std::string& path) {
  std::map<std::string, SafeTensor> tensors;
  for (const Param& p : params.params()) {
    at::Tensor full = p.value.detach();
    if (p.tp_shard_dim >= 0 && g.tp.size() > 1) {
      std::vector<std::vector<at::Tensor>> out{std::vector<at::Tensor>(g.tp.size())};
      for (auto& t : out[0]) t = at::empty_like(full);
      std::vector<at::Tensor> in{full.contiguous()};
      g.tp.comm->allgather(out, in)->wait();
      full = at::cat(out[0], p.tp_shard_dim);
    }
    if (g.tp.rank != 0) continue;
    const at::Tensor cpu = full.to(at::kCPU, at::kFloat).contiguous();
    SafeTensor t;
    t.shape = cpu.sizes().vec();
    t.values.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
    tensors.emplace(p.name, std::move(t));
  }
  if (g.tp.rank != 0) return;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_safetensors(path, tensors,
                    {{"iter", std::to_string(iter)}, {"module", module}, {"stage", std::to_string(g.pp.rank)},
                     {"format", "hetero-weights-v1"}});
}

}  // namespace hetero
