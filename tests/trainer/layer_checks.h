// Small helpers shared by the layer tests.
#pragma once

#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <torch/torch.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/params.h"

namespace hetero::test {

// A two-layer encoder of C-RADIO's architecture (LayerNorm with eps 1e-6,
// biases, GELU, square-crop positions, 2 class tokens and 1 register,
// 2-pixel patches, RGB) at the given widths.
inline EncoderArch small_cradio_arch(int hidden, int heads, int ffn, int position_table_side) {
  EncoderArch a;
  a.num_layers = 2;
  a.hidden_size = hidden;
  a.num_attention_heads = heads;
  a.ffn_hidden_size = ffn;
  a.patch_size = 2;
  a.channels = 3;
  a.position_table_side = position_table_side;
  a.num_cls_tokens = 2;
  a.num_registers = 1;
  a.norm = "layernorm";
  a.norm_eps = 1e-6;
  a.bias = true;
  a.mlp_activation = "gelu";
  a.position_interpolation = "square_crop";
  return a;
}

// Deletes a flat temporary folder (files only, no subfolders). Not
// std::filesystem::remove_all: linked against the PyTorch wheels' LibTorch
// (CUDA builds) it crashed every test that called it (seen on the H100
// with LibTorch 2.11); plain POSIX calls do not depend on that.
inline void remove_flat_dir(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") unlink((dir + "/" + name).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

// A group of one: every collective is a no-op.
inline Group single_group() {
  Group g;
  g.ranks = {0};
  return g;
}

inline void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const double scale = std::max(want.abs().max().item<double>(), 1e-12);
  const double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

// Replaces every parameter by random values (so that ones and zeros from
// initialisation do not hide mistakes), drawn in full from (seed, index)
// and then sharded like the parameter: the same values on any tp layout.
inline void randomize(ParamSet& params, int tp_rank, int tp_size, uint64_t seed) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params.params().size(); ++i) {
    Param& p = params.params()[i];
    std::vector<int64_t> full = p.value.sizes().vec();
    if (p.tp_shard_dim >= 0) full[p.tp_shard_dim] *= tp_size;
    torch::manual_seed(seed + i);
    at::Tensor values = torch::randn(full) * 0.5;
    if (p.tp_shard_dim >= 0) values = values.chunk(tp_size, p.tp_shard_dim)[tp_rank];
    p.value.copy_(values);
  }
}

}  // namespace hetero::test
