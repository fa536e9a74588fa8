#include "tools/single_process.h"

#include "hetero/errors.h"

namespace hetero {

at::Device parse_device(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  if (name == "cuda") {
#ifdef HETERO_WITH_CUDA
    return at::Device(at::kCUDA, 0);
#else
    throw ConfigError("--device cuda: this build has no CUDA support (built against a CPU LibTorch)");
#endif
  }
  throw ConfigError("--device '" + name + "' is not one of cpu, cuda");
}

at::ScalarType parse_compute_dtype(const std::string& name) {
  if (name == "bf16") return at::kBFloat16;
  if (name != "fp32") throw ConfigError("--dtype '" + name + "' is not one of fp32, bf16");
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  return at::kFloat;
}

Group single_process_group(at::Device device) {
  Group g;
  g.device = device;
  g.ranks = {0};
  g.rank = 0;
  return g;
}

ModuleGroups single_process_groups(at::Device device) {
  const Group g = single_process_group(device);
  ModuleGroups m;
  m.tp = m.dp = m.pp = m.ep = m.etp = m.edp = g;
  return m;
}

}  // namespace hetero
