#include "tools/radio_images.h"

#include "checkpoint/tensor_io.h"
#include "hetero/errors.h"
#include "hetero/safetensors.h"

namespace hetero {

RadioImages read_radio_images(const std::string& path, const EncoderArch& a, at::Device device) {
  const SafeTensorFile file = read_safetensors(path);
  if (file.tensors.empty()) throw ConfigError("--images " + path + " holds no tensors");
  const int p = a.patch_size;
  RadioImages out;
  std::vector<at::Tensor> pixels;
  for (const auto& [name, st] : file.tensors) {
    at::Tensor img = to_tensor(st);
    if (img.dim() == 4 && img.size(0) == 1) img = img.squeeze(0);
    if (img.dim() != 3 || img.size(0) != a.channels || img.size(1) % p || img.size(2) % p || img.size(1) == 0 ||
        img.size(2) == 0) {
      std::string shape;
      for (int64_t d : st.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
      throw ConfigError("--images " + path + ": image '" + name + "' has shape [" + shape + "]; expected [" +
                        std::to_string(a.channels) + ", H, W] with H and W positive multiples of patch_size=" +
                        std::to_string(p));
    }
    const int64_t rows = img.size(1) / p, cols = img.size(2) / p;
    // [C, rows, p, cols, p] -> [rows, cols, C, p, p]: RADIO's patch vector.
    pixels.push_back(img.reshape({a.channels, rows, p, cols, p}).permute({1, 3, 0, 2, 4}).reshape({rows * cols, -1}));
    out.batch.grids.push_back({static_cast<int>(rows), static_cast<int>(cols)});
    out.batch.cu_seqlens.push_back(out.batch.cu_seqlens.back() + rows * cols);
    out.names.push_back(name);
  }
  out.batch.pixels = at::cat(pixels, 0).contiguous().to(device);
  return out;
}

}  // namespace hetero
