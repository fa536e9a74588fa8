#include "model/causal_conv1d.h"

#include <tuple>

#include <torch/csrc/autograd/custom_function.h>

#include "dist/device_copy.h"
#include "kernels/causal_conv1d.h"
#include "model/packing.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/causal_conv1d_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kMaxKernel = 8;  // taps the kernels hold in registers (kernels/causal_conv1d_cuda.h)

// x as [T, groups, width] without a copy.
at::Tensor channel_groups(const at::Tensor& x) { return x.dim() == 3 ? x : x.unsqueeze(1); }

// The CPU loops: fp32 over an any-strided x3 [T, groups, width], contiguous
// fp32 weight [channels, K], bias and d_out [T, channels].
template <typename X>
struct CpuInput {
  const X* data;
  int64_t token_stride, group_stride, width;
  float at(int64_t t, int64_t c) const {
    return static_cast<float>(data[t * token_stride + c / width * group_stride + c % width]);
  }
};

template <typename X>
CpuInput<X> cpu_input(const at::Tensor& x3) {
  return {x3.data_ptr<X>(), x3.stride(0), x3.stride(1), x3.size(2)};
}

// window[k] = x[t - (K-1) + k, c], zeros before the sequence's start.
template <typename X>
void input_window(const CpuInput<X>& x, int64_t t, int64_t c, int64_t start, int64_t kernel, float* window) {
  for (int64_t k = 0; k < kernel; ++k) {
    const int64_t r = t - (kernel - 1) + k;
    window[k] = r >= start ? x.at(r, c) : 0.0f;
  }
}

template <typename X>
at::Tensor forward_cpu(const at::Tensor& x3, const at::Tensor& weight, const at::Tensor& bias,
                       const std::vector<int64_t>& cu) {
  const int64_t tokens = x3.size(0), channels = x3.size(1) * x3.size(2), kernel = weight.size(2);
  at::Tensor out = at::empty({tokens, channels}, weight.options());
  const CpuInput<X> x = cpu_input<X>(x3);
  const float *wp = weight.data_ptr<float>(), *bp = bias.data_ptr<float>();
  float* op = out.data_ptr<float>();
  float window[kMaxKernel];
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) {
      for (int64_t c = 0; c < channels; ++c) {
        input_window(x, t, c, cu[s], kernel, window);
        op[t * channels + c] =
            causal_conv_silu(causal_conv_pre(wp + c * kernel, bp[c], window, static_cast<int>(kernel)));
      }
    }
  }
  return out;
}

template <typename X>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& d_out, const at::Tensor& x3,
                                                            const at::Tensor& weight, const at::Tensor& bias,
                                                            const std::vector<int64_t>& cu) {
  const int64_t tokens = x3.size(0), channels = x3.size(1) * x3.size(2), kernel = weight.size(2);
  const CpuInput<X> x = cpu_input<X>(x3);
  const float *wp = weight.data_ptr<float>(), *bp = bias.data_ptr<float>(), *dop = d_out.data_ptr<float>();
  // g: the gradient at the pre-activation, recomputed from x.
  at::Tensor g = at::empty({tokens, channels}, weight.options());
  float* gp = g.data_ptr<float>();
  float window[kMaxKernel];
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) {
      for (int64_t c = 0; c < channels; ++c) {
        input_window(x, t, c, cu[s], kernel, window);
        const float pre = causal_conv_pre(wp + c * kernel, bp[c], window, static_cast<int>(kernel));
        gp[t * channels + c] = causal_conv_pre_grad(dop[t * channels + c], pre);
      }
    }
  }
  at::Tensor dx = at::empty({tokens, channels}, weight.options());
  at::Tensor dw = at::zeros_like(weight), db = at::zeros_like(bias);
  float *dxp = dx.data_ptr<float>(), *dwp = dw.data_ptr<float>(), *dbp = db.data_ptr<float>();
  float g_window[kMaxKernel];
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) {
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t j = 0; j < kernel; ++j) g_window[j] = t + j < cu[s + 1] ? gp[(t + j) * channels + c] : 0.0f;
        dxp[t * channels + c] = causal_conv_dx(wp + c * kernel, g_window, static_cast<int>(kernel));
        input_window(x, t, c, cu[s], kernel, window);
        const float gt = gp[t * channels + c];
        for (int64_t k = 0; k < kernel; ++k) dwp[c * kernel + k] += gt * window[k];
        dbp[c] += gt;
      }
    }
  }
  return {dx.to(x3.scalar_type()), dw, db};
}

struct CausalConv1dSilu : torch::autograd::Function<CausalConv1dSilu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& cu_device,
                            const std::vector<int64_t>& cu_seqlens, at::ScalarType out_dtype,
                            const GradientInto& dx_into) {
    const at::Tensor x3 = channel_groups(x), w = weight.contiguous(), b = bias.contiguous();
    save_gradient_into(ctx, "dx_into", dx_into);
    ctx->save_for_backward({x3, w, b, cu_device});
    ctx->saved_data["cu_seqlens"] = cu_seqlens;
    ctx->saved_data["input_sizes"] = x.sizes().vec();
#ifdef HETERO_WITH_CUDA
    if (x3.is_cuda()) return causal_conv1d_silu_cuda(x3, w, b, cu_device, out_dtype);
#endif
    const at::Tensor out = x3.scalar_type() == at::kBFloat16 ? forward_cpu<at::BFloat16>(x3, w, b, cu_seqlens)
                                                             : forward_cpu<float>(x3, w, b, cu_seqlens);
    return out.to(out_dtype);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &x3 = s[0], &weight = s[1], &bias = s[2], &cu_device = s[3];
    const GradientInto into = saved_gradient_into(ctx, "dx_into");
    std::tuple<at::Tensor, at::Tensor, at::Tensor> g;
#ifdef HETERO_WITH_CUDA
    if (x3.is_cuda())
      g = causal_conv1d_silu_backward_cuda(grads[0].contiguous(), x3, weight, bias, cu_device, into.slice());
#endif
    if (!x3.is_cuda()) {
      const std::vector<int64_t> cu = ctx->saved_data["cu_seqlens"].toIntVector();
      const at::Tensor d_out = grads[0].to(at::kFloat).contiguous();
      g = x3.scalar_type() == at::kBFloat16 ? backward_cpu<at::BFloat16>(d_out, x3, weight, bias, cu)
                                            : backward_cpu<float>(d_out, x3, weight, bias, cu);
      if (into.defined()) std::get<0>(g) = gradient_into(std::get<0>(g).view(x3.sizes()), into);
    }
    // x's own shape for autograd (it routes it back through any view of x).
    const at::Tensor dx = std::get<0>(g).view(ctx->saved_data["input_sizes"].toIntVector());
    return {dx, std::get<1>(g), std::get<2>(g), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor causal_conv1d_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              const std::vector<int64_t>& cu_seqlens, at::ScalarType out_dtype,
                              const GradientInto& dx_into) {
  TORCH_CHECK(x.dim() == 2 || x.dim() == 3, "causal_conv1d_silu: x must be [T, channels] or [T, groups, width], got ",
              x.sizes());
  const int64_t tokens = x.size(0), channels = x.dim() == 3 ? x.size(1) * x.size(2) : x.size(1);
  TORCH_CHECK(x.stride(-1) == 1 || x.size(-1) == 1, "causal_conv1d_silu: x's last dim must be contiguous (stride 1), ",
              "got strides ", x.strides(), "; pass x.contiguous()");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, "causal_conv1d_silu: x's dtype ",
              x.scalar_type(), " is not fp32 or bf16");
  TORCH_CHECK(weight.dim() == 3 && weight.size(0) == channels && weight.size(1) == 1 && weight.size(2) >= 1 &&
                  weight.size(2) <= kMaxKernel,
              "causal_conv1d_silu: weight must be [", channels, ", 1, K] with 1 <= K <= ", kMaxKernel, ", got ",
              weight.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == channels, "causal_conv1d_silu: bias must be [", channels, "], got ",
              bias.sizes());
  TORCH_CHECK(weight.scalar_type() == at::kFloat && bias.scalar_type() == at::kFloat,
              "causal_conv1d_silu: weight and bias must be fp32 (the masters), got ", weight.scalar_type(), " and ",
              bias.scalar_type());
  TORCH_CHECK(weight.device() == x.device() && bias.device() == x.device(), "causal_conv1d_silu: weight and bias ",
              "must be on x's device ", x.device(), ", got ", weight.device(), " and ", bias.device());
  TORCH_CHECK(out_dtype == at::kFloat || out_dtype == at::kBFloat16, "causal_conv1d_silu: out_dtype ", out_dtype,
              " is not fp32 or bf16");
  check_cu_seqlens(cu_seqlens, tokens);
  // The kernels find each tile's sequence by a binary search in cu_seqlens
  // on the device: one upload of S + 1 int64 per call, from pinned memory
  // and asynchronous (copy_to_device), so the host never waits on the
  // stream; per-token sequence starts would upload T values instead.
  const at::Tensor cu_device = copy_to_device(at::tensor(cu_seqlens, at::kLong), x.device());
  dx_into.check_matches(x, "causal_conv1d_silu");
  return CausalConv1dSilu::apply(x, weight, bias, cu_device, cu_seqlens, out_dtype, dx_into);
}

}  // namespace hetero
