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

std::vector<float> resize_to_patches(const RgbImage& image, const PatchGrid& grid, int patch) {
  const int out_h = grid.rows * patch, out_w = grid.cols * patch;
  const int in_h = image.height, in_w = image.width;
  // Source coordinate of output pixel i: (i + 0.5) * in / out - 0.5, clamped
  // at 0 (align_corners=false).
  struct Tap {
    int i0, i1;
    float w1;
  };
  auto taps = [](int out, int in) {
    std::vector<Tap> t(out);
    const double scale = static_cast<double>(in) / out;
    for (int i = 0; i < out; ++i) {
      double src = std::max(0.0, (i + 0.5) * scale - 0.5);
      int i0 = std::min(static_cast<int>(src), in - 1);
      int i1 = std::min(i0 + 1, in - 1);
      t[i] = {i0, i1, static_cast<float>(src - i0)};
    }
    return t;
  };
  const std::vector<Tap> ty = taps(out_h, in_h), tx = taps(out_w, in_w);
  const int patch_dim = 3 * patch * patch;
  std::vector<float> out(static_cast<size_t>(grid.patches()) * patch_dim);
  std::vector<float> row(static_cast<size_t>(in_w) * 3);
  // One band of `patch` output rows (RGB interleaved), then written out
  // patch by patch in order: the output is filled sequentially.
  std::vector<float> band(static_cast<size_t>(patch) * out_w * 3);
  const float inv = 1.0f / 255.0f;
  for (int py = 0; py < grid.rows; ++py) {
    for (int iy = 0; iy < patch; ++iy) {
      const int y = py * patch + iy;
      // __restrict: the rows are bytes, which may alias anything; these do not.
      const std::uint8_t* __restrict r0 = image.rgb.data() + static_cast<size_t>(ty[y].i0) * in_w * 3;
      const std::uint8_t* __restrict r1 = image.rgb.data() + static_cast<size_t>(ty[y].i1) * in_w * 3;
      float* __restrict v = row.data();
      const float wy = ty[y].w1 * inv, wy0 = (1.0f - ty[y].w1) * inv;
      for (int k = 0; k < in_w * 3; ++k) v[k] = wy0 * r0[k] + wy * r1[k];
      float* __restrict h = band.data() + static_cast<size_t>(iy) * out_w * 3;
      for (int x = 0; x < out_w; ++x) {
        const Tap& t = tx[x];
        const float* a = v + t.i0 * 3;
        const float* b = v + t.i1 * 3;
        for (int c = 0; c < 3; ++c) h[x * 3 + c] = a[c] + t.w1 * (b[c] - a[c]);
      }
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
