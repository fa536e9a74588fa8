#include "data/image_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <png.h>
#include <turbojpeg.h>

namespace hetero {
namespace {

struct TjHandle {
  explicit TjHandle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {
    if (!h) throw std::runtime_error("libjpeg-turbo: cannot create a handle");
  }
  ~TjHandle() { tjDestroy(h); }
  tjhandle h;
};

// One decompressor per thread: creating one costs more than a small decode.
tjhandle thread_decompressor() {
  thread_local TjHandle handle(false);
  return handle.h;
}

std::string tj_error(tjhandle h) { return tjGetErrorStr2(h); }

}  // namespace

bool image_format_of_extension(const std::string& ext, ImageFormat* format) {
  std::string e = ext;
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  if (e == "jpg" || e == "jpeg") {
    *format = ImageFormat::Jpeg;
    return true;
  }
  if (e == "png") {
    *format = ImageFormat::Png;
    return true;
  }
  return false;
}

void image_size(const std::uint8_t* data, std::size_t size, ImageFormat format, int* height, int* width) {
  if (format == ImageFormat::Jpeg) {
    tjhandle h = thread_decompressor();
    int subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), width, height, &subsamp, &colorspace) != 0)
      throw std::runtime_error("not a readable JPEG (" + tj_error(h) + ")");
    return;
  }
  // PNG: the signature, then the IHDR chunk with big-endian width and height.
  static const std::uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 24 || std::memcmp(data, kSig, 8) != 0 || std::memcmp(data + 12, "IHDR", 4) != 0)
    throw std::runtime_error("not a PNG (bad signature or no IHDR chunk)");
  auto be32 = [&](std::size_t at) {
    return static_cast<int>((std::uint32_t(data[at]) << 24) | (std::uint32_t(data[at + 1]) << 16) |
                            (std::uint32_t(data[at + 2]) << 8) | std::uint32_t(data[at + 3]));
  };
  *width = be32(16);
  *height = be32(20);
  if (*width <= 0 || *height <= 0) throw std::runtime_error("PNG header gives an empty image");
}

RgbImage decode_image(const std::uint8_t* data, std::size_t size, ImageFormat format) {
  RgbImage img;
  if (format == ImageFormat::Jpeg) {
    tjhandle h = thread_decompressor();
    image_size(data, size, format, &img.height, &img.width);
    img.rgb.resize(static_cast<size_t>(img.height) * img.width * 3);
    if (tjDecompress2(h, data, static_cast<unsigned long>(size), img.rgb.data(), img.width, 0, img.height, TJPF_RGB, 0) != 0)
      throw std::runtime_error("JPEG does not decode (" + tj_error(h) + ")");
    return img;
  }
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size))
    throw std::runtime_error(std::string("PNG does not decode (") + png.message + ")");
  png.format = PNG_FORMAT_RGB;
  img.height = static_cast<int>(png.height);
  img.width = static_cast<int>(png.width);
  img.rgb.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, img.rgb.data(), 0, nullptr)) {
    const std::string why = png.message;
    png_image_free(&png);
    throw std::runtime_error("PNG does not decode (" + why + ")");
  }
  return img;
}

namespace {

// Separable resampling weights of PIL's BILINEAR filter (a triangle,
// widened by the scale when downscaling, so it averages rather than skips
// pixels): output i is centred at (i + 0.5) * in / out in input pixels.
struct Taps {
  int first = 0;
  std::vector<float> w;
};

std::vector<Taps> triangle_taps(int out, int in) {
  const double scale = static_cast<double>(in) / out, widen = std::max(1.0, scale);
  const double support = widen;  // the triangle's half-width, 1 input pixel, widened
  std::vector<Taps> taps(out);
  for (int i = 0; i < out; ++i) {
    const double centre = (i + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(centre - support + 0.5));
    const int hi = std::min(in, static_cast<int>(centre + support + 0.5));
    Taps& t = taps[i];
    t.first = lo;
    double sum = 0;
    for (int j = lo; j < hi; ++j) {
      const double x = std::fabs((j + 0.5 - centre) / widen);
      const double w = x < 1 ? 1 - x : 0;
      t.w.push_back(static_cast<float>(w));
      sum += w;
    }
    for (float& w : t.w) w = static_cast<float>(w / sum);
  }
  return taps;
}

// One output row from one (vertically filtered) input row, RGB interleaved.
template <int K>
void horizontal(const float* __restrict v, float* __restrict h, const int* first, const float* w, int out_w) {
  for (int x = 0; x < out_w; ++x, w += K) {
    const float* src = v + first[x];
    float r = 0, g = 0, b = 0;
    for (int j = 0; j < K; ++j) {
      r += w[j] * src[3 * j];
      g += w[j] * src[3 * j + 1];
      b += w[j] * src[3 * j + 2];
    }
    h[3 * x] = r;
    h[3 * x + 1] = g;
    h[3 * x + 2] = b;
  }
}

void horizontal_any(const float* __restrict v, float* __restrict h, const int* first, const float* w, int out_w,
                    int k) {
  for (int x = 0; x < out_w; ++x, w += k) {
    const float* src = v + first[x];
    float acc[3] = {0, 0, 0};
    for (int j = 0; j < k; ++j)
      for (int c = 0; c < 3; ++c) acc[c] += w[j] * src[3 * j + c];
    for (int c = 0; c < 3; ++c) h[3 * x + c] = acc[c];
  }
}

}  // namespace

std::vector<float> resize_to_patches(const RgbImage& image, const PatchGrid& grid, int patch) {
  const int out_h = grid.rows * patch, out_w = grid.cols * patch;
  const int in_h = image.height, in_w = image.width;
  const std::vector<Taps> ty = triangle_taps(out_h, in_h), tx = triangle_taps(out_w, in_w);
  // Horizontal taps flattened to a fixed count kx (zero weights pad the
  // shorter ones; the row buffer is padded so they read inside it).
  int kx = 1;
  for (const Taps& t : tx) kx = std::max(kx, static_cast<int>(t.w.size()));
  std::vector<int> hx_first(out_w);
  std::vector<float> hx_w(static_cast<size_t>(out_w) * kx, 0.f);
  for (int x = 0; x < out_w; ++x) {
    hx_first[x] = tx[x].first * 3;
    std::copy(tx[x].w.begin(), tx[x].w.end(), hx_w.begin() + static_cast<std::ptrdiff_t>(x) * kx);
  }
  const int patch_dim = 3 * patch * patch;
  std::vector<float> out(static_cast<size_t>(grid.patches()) * patch_dim);
  std::vector<float> row((static_cast<size_t>(in_w) + kx) * 3, 0.f);
  // One band of `patch` output rows (RGB interleaved), then written out
  // patch by patch in order: the output is filled sequentially.
  std::vector<float> band(static_cast<size_t>(patch) * out_w * 3);
  const float inv = 1.0f / 255.0f;
  for (int py = 0; py < grid.rows; ++py) {
    for (int iy = 0; iy < patch; ++iy) {
      const int y = py * patch + iy;
      // Vertical taps into one float row (scaled to [0, 1]), then horizontal
      // taps per output pixel. __restrict: the source rows are bytes, which
      // may alias anything; these do not.
      float* __restrict v = row.data();
      const Taps& t = ty[y];
      auto src_row = [&](size_t j) { return image.rgb.data() + (static_cast<size_t>(t.first) + j) * in_w * 3; };
      const int n = in_w * 3;
      size_t done = 0;
      if (t.w.size() >= 3) {  // the common downscale: three rows in one pass
        const std::uint8_t* __restrict a = src_row(0);
        const std::uint8_t* __restrict b = src_row(1);
        const std::uint8_t* __restrict c = src_row(2);
        const float wa = t.w[0] * inv, wb = t.w[1] * inv, wc = t.w[2] * inv;
        for (int k = 0; k < n; ++k) v[k] = wa * a[k] + wb * b[k] + wc * c[k];
        done = 3;
      } else if (t.w.size() == 2) {
        const std::uint8_t* __restrict a = src_row(0);
        const std::uint8_t* __restrict b = src_row(1);
        const float wa = t.w[0] * inv, wb = t.w[1] * inv;
        for (int k = 0; k < n; ++k) v[k] = wa * a[k] + wb * b[k];
        done = 2;
      } else {
        const std::uint8_t* __restrict a = src_row(0);
        const float wa = t.w[0] * inv;
        for (int k = 0; k < n; ++k) v[k] = wa * a[k];
        done = 1;
      }
      for (size_t j = done; j < t.w.size(); ++j) {
        const std::uint8_t* __restrict r = image.rgb.data() + (static_cast<size_t>(t.first) + j) * in_w * 3;
        const float w = t.w[j] * inv;
        for (int k = 0; k < in_w * 3; ++k) v[k] += w * r[k];
      }
      float* __restrict h = band.data() + static_cast<size_t>(iy) * out_w * 3;
      if (kx == 3) horizontal<3>(v, h, hx_first.data(), hx_w.data(), out_w);
      else if (kx == 2) horizontal<2>(v, h, hx_first.data(), hx_w.data(), out_w);
      else horizontal_any(v, h, hx_first.data(), hx_w.data(), out_w, kx);
    }
    float* __restrict dst = out.data() + static_cast<size_t>(py) * grid.cols * patch_dim;
    for (int px = 0; px < grid.cols; ++px)
      for (int c = 0; c < 3; ++c)
        for (int iy = 0; iy < patch; ++iy) {
          const float* src = band.data() + (static_cast<size_t>(iy) * out_w + static_cast<size_t>(px) * patch) * 3 + c;
          for (int ix = 0; ix < patch; ++ix) *dst++ = src[ix * 3];
        }
  }
  return out;
}

std::vector<std::uint8_t> encode_jpeg(const RgbImage& image, int quality) {
  TjHandle h(true);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  if (tjCompress2(h.h, image.rgb.data(), image.width, 0, image.height, TJPF_RGB, &buf, &size, TJSAMP_420, quality,
                  0) != 0)
    throw std::runtime_error("JPEG encoding failed (" + tj_error(h.h) + ")");
  std::vector<std::uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

std::vector<std::uint8_t> encode_png(const RgbImage& image) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.rgb.data(), 0, nullptr))
    throw std::runtime_error(std::string("PNG encoding failed (") + png.message + ")");
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.rgb.data(), 0, nullptr))
    throw std::runtime_error(std::string("PNG encoding failed (") + png.message + ")");
  out.resize(size);
  return out;
}

}  // namespace hetero
