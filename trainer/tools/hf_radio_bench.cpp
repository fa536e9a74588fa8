// hetero-hf radio-bench: training speed and peak memory of our RADIO ViT on
// given images: forward of features() (what RadioModel returns as
// `features`) and backward from a fixed random gradient into gradients
// that start from none, the images of one step packed into one sequence.
// scripts/bench_encoder_gpu.sh runs it beside transformers' RadioModel on
// the same images (scripts/bench_radio_hf.py).
//
// Model FLOPs of a step (no recomputation counted), per image of n tokens
// (patches + class/register tokens), with L layers, hidden h, FFN width f:
//   forward = L * (2n(4h^2 + 2hf) + 4n^2 h) + 2 * patches * patch_dim * h
//   step    = 3 * forward
// MFU is that over the step time, against the GPU's dense bf16 peak
// (--peak-tflops, 989 for an H100/H200 SXM).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#ifdef HETERO_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/recipe.h"
#include "hf/hf_radio.h"
#include "model/radio_encoder.h"
#include "telemetry/device_memory.h"
#include "telemetry/kernel_trace.h"
#include "tools/hf_commands.h"
#include "tools/radio_images.h"
#include "tools/single_process.h"

namespace po = boost::program_options;

namespace hetero {
namespace {

double step_flops(const EncoderArch& a, const ImageBatch& batch) {
  const double h = a.hidden_size, f = a.ffn_hidden_size, layers = a.num_layers;
  const double summary = a.num_cls_tokens + a.num_registers;
  const double patch_dim = static_cast<double>(a.channels) * a.patch_size * a.patch_size;
  double forward = 0;
  for (const PatchGrid& g : batch.grids) {
    const double patches = static_cast<double>(g.patches()), n = patches + summary;
    forward += layers * (2 * n * (4 * h * h + 2 * h * f) + 4 * n * n * h) + 2 * patches * patch_dim * h;
  }
  return 3 * forward;
}

// The images `copies` times over, as one packed batch (lanes of one forward).
ImageBatch repeat(const ImageBatch& one, int copies) {
  ImageBatch out;
  std::vector<at::Tensor> pixels;
  for (int c = 0; c < copies; ++c) {
    pixels.push_back(one.pixels);
    for (int i = 0; i < one.num_images(); ++i) {
      out.grids.push_back(one.grids[i]);
      out.cu_seqlens.push_back(out.cu_seqlens.back() + one.grids[i].patches());
    }
  }
  out.pixels = at::cat(pixels, 0);
  return out;
}

void synchronize(at::Device device) {
#ifdef HETERO_WITH_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#endif
  (void)device;
}

}  // namespace

int hf_radio_bench(int argc, char** argv) {
  RecipeArgs recipe_args;
  std::string hf, images_path, device_name, dtype_name, attention_name, kernel_trace;
  int copies = 1, warmup = 3, steps = 10;
  double peak_tflops = 989;
  po::options_description desc(
      "hetero-hf radio-bench: forward + backward speed and peak memory of our RADIO ViT (features(), tensor "
      "parallelism 1, one process) on given images, packed into one sequence per step. Prints one line of JSON.\n"
      "Images: as radio-features takes them (a safetensors file of [C, H, W] tensors).\nOptions");
  add_recipe_options(desc, recipe_args);
  desc.add_options()
    ("images", po::value(&images_path)->required(), "safetensors file of images [C, H, W]")
    ("hf", po::value(&hf), "Hugging Face RADIO checkpoint to load (default: the recipe seed's weights)")
    ("copies", po::value(&copies)->default_value(1), "pack the images this many times into each step (lanes)")
    ("warmup", po::value(&warmup)->default_value(3), "steps before timing")
    ("steps", po::value(&steps)->default_value(10), "timed steps")
    ("device", po::value(&device_name)->default_value("cuda"), "cpu or cuda")
    ("dtype", po::value(&dtype_name)->default_value("bf16"), "compute dtype: fp32 or bf16")
    ("attention", po::value(&attention_name),
     "reference, fused or varlen (image_attention.h; default: fused on CUDA, reference on CPU)")
    ("peak-tflops", po::value(&peak_tflops)->default_value(989), "the GPU's dense peak for MFU, TFLOP/s")
    ("kernel-trace", po::value(&kernel_trace),
     "after the timed steps, record one more step's ATen ops and CUDA kernels into this Chrome trace "
     "(scripts/kernel_top.py sums it; CUDA builds)");
  if (!parse_command_line(argc, argv, desc, "hetero-hf radio-bench")) return 0;
  if (copies < 1 || warmup < 0 || steps < 1)
    throw ConfigError("--copies and --steps must be at least 1 and --warmup at least 0");
  if (!kernel_trace.empty() && !kernel_trace_supported())
    throw ConfigError("--kernel-trace needs a CUDA build of hetero-hf (this one is CPU-only); leave it out");
  const at::Device device = parse_device(device_name);
  const at::ScalarType compute = parse_compute_dtype(dtype_name);
  const Recipe r = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
  const EncoderArch& a = r.encoder;

  const Group tp = single_process_group(device);
  RadioEncoder encoder(a, r.llm.hidden_size, r.seed, tp, device, compute);
  AttentionKernel kernel = default_attention_kernel(device);
  if (!attention_name.empty()) {
    try {
      kernel = parse_attention_kernel(attention_name, device);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("--attention: ") + e.what());
    }
  }
  encoder.set_attention_kernel(kernel);
  if (!hf.empty()) load_hf_radio(encoder, hf, a);

  const ImageBatch batch = repeat(read_radio_images(images_path, a, device).batch, copies);
  const at::Tensor grad = at::randn({batch.num_patches(), a.hidden_size},
                                    at::TensorOptions().dtype(at::kFloat).device(device));
  // Each step starts without gradients, as the RadioModel side of
  // scripts/bench_radio_hf.py does (PyTorch's zero_grad(set_to_none=True)).
  // hetero-train zeroes them in place instead (optim/grads.h), so its
  // backward also adds into them: one more fp32 pass over the gradients.
  auto step = [&] {
    for (Param& p : encoder.params().params()) p.value.mutable_grad() = at::Tensor();
    encoder.features(batch).backward(grad);
  };

  for (int i = 0; i < warmup; ++i) step();
  synchronize(device);
  reset_peak_device_memory(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;

  if (!kernel_trace.empty()) {  // outside the timed steps: the profiler's own cost stays out of the numbers
    KernelTrace trace(kernel_trace, 1);
    trace.begin(1);
    step();
    trace.end(1);
  }

  const double tflops = step_flops(a, batch) / seconds / 1e12;
  // What torch.cuda.max_memory_allocated reports on the other side; -1 off CUDA.
  const double peak_gb = device.is_cuda() ? read_device_memory(device).max_allocated / 1e9 : -1;
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"impl\": \"hetero\", \"attention\": \"%s\", \"dtype\": \"%s\", \"images\": %d, \"patches\": %lld, "
                "\"step_ms\": %.3f, \"patches_per_s\": %.1f, \"tflops\": %.1f, \"mfu\": %.4f, \"peak_gb\": %.3f}",
                kernel == AttentionKernel::Fused ? "fused" : kernel == AttentionKernel::Varlen ? "varlen" : "reference",
                dtype_name.c_str(), batch.num_images(),
                static_cast<long long>(batch.num_patches()), seconds * 1e3, batch.num_patches() / seconds, tflops,
                tflops / peak_tflops, peak_gb);
  std::cout << line << std::endl;
  return 0;
}

}  // namespace hetero
