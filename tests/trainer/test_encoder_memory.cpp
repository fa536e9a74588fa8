// The encoder's memory is linear in the packed length (design §6): the same
// images packed 1 and 8 lanes at a time into one forward cost the same per
// image at the peak of forward + backward. Measured with a counting CPU
// allocator installed in place of LibTorch's for the test's duration.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "layer_checks.h"
#include "model/radio_encoder.h"

namespace hetero {
namespace {

// Wraps the CPU allocator and counts the bytes its tensors hold: now and the
// peak since reset(). Its DataPtrs keep context == data, as LibTorch 2.x
// asserts for CPU memory; the base allocation and size wait in a side table.
// (c10::Allocator::allocate is const in LibTorch 1.13 and not from 2.3,
// which also added copy_data.)
class CountingCpuAllocator : public c10::Allocator {
 public:
  explicit CountingCpuAllocator(c10::Allocator* base) : base_(base) { self_ = this; }

#if TORCH_VERSION_MAJOR >= 2
  c10::DataPtr allocate(size_t n) override { return count(n); }
  void copy_data(void* dest, const void* src, size_t count) const override { std::memcpy(dest, src, count); }
#else
  c10::DataPtr allocate(size_t n) const override { return count(n); }
#endif

  // Code that allocates raw memory (raw_allocate/raw_deallocate) frees it
  // through this.
  c10::DeleterFnPtr raw_deleter() const override { return &CountingCpuAllocator::release; }

  void reset() { peak_ = live_.load(); }
  int64_t live() const { return live_.load(); }
  int64_t peak() const { return peak_.load(); }

 private:
  struct Held {
    c10::DataPtr inner;
    int64_t bytes;
  };

  static void release(void* data) {
    Held h;
    {
      std::lock_guard<std::mutex> lock(self_->mutex_);
      auto it = self_->held_.find(data);
      if (it == self_->held_.end()) {  // raw memory from the base allocator, freed while this one is installed
        self_->base_->raw_deleter()(data);
        return;
      }
      h = std::move(it->second);
      self_->held_.erase(it);
    }
    self_->live_ -= h.bytes;
  }  // h.inner frees through the base allocator's deleter

  c10::DataPtr count(size_t n) const {
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    if (data == nullptr) return inner;  // zero bytes: nothing to count
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_[data] = Held{std::move(inner), static_cast<int64_t>(n)};
    }
    const int64_t now = live_ += static_cast<int64_t>(n);
    int64_t seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return {data, data, &CountingCpuAllocator::release, device};
  }

  static CountingCpuAllocator* self_;
  c10::Allocator* base_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, Held> held_;
  mutable std::atomic<int64_t> live_{0}, peak_{0};
};

CountingCpuAllocator* CountingCpuAllocator::self_ = nullptr;

// Installs the counter for the current scope. The counter outlives every
// tensor it handed out (a static), so tensors freed later still find it.
class CountingScope {
 public:
  CountingScope() : previous_(c10::GetCPUAllocator()) {
    static CountingCpuAllocator* counter = new CountingCpuAllocator(c10::GetCPUAllocator());
    counter_ = counter;
    c10::SetCPUAllocator(counter_, kPriority);
  }
  ~CountingScope() { c10::SetCPUAllocator(previous_, kPriority); }
  CountingCpuAllocator& counter() { return *counter_; }

 private:
  static constexpr uint8_t kPriority = 255;  // above any registered CPU allocator
  c10::Allocator* previous_;
  CountingCpuAllocator* counter_;
};

EncoderArch small_encoder() { return test::small_cradio_arch(32, 4, 64, 8); }

// One lane's images: 6x6, 5x7 and 8x4 patches (36 + 35 + 32, plus 3
// summary tokens each), `lanes` times over in one packed batch.
ImageBatch lanes_of_images(int lanes, int patch_dim) {
  ImageBatch b;
  for (int l = 0; l < lanes; ++l)
    for (PatchGrid g : {PatchGrid{6, 6}, PatchGrid{5, 7}, PatchGrid{8, 4}}) {
      b.grids.push_back(g);
      b.cu_seqlens.push_back(b.cu_seqlens.back() + g.patches());
    }
  torch::manual_seed(5);
  b.pixels = torch::rand({b.num_patches(), patch_dim});
  return b;
}

// Peak bytes above the starting point over a forward and backward of
// features() for `lanes` lanes, per image.
double peak_bytes_per_image(RadioEncoder& enc, int lanes) {
  const EncoderArch& a = enc.arch();
  const ImageBatch batch = lanes_of_images(lanes, a.channels * a.patch_size * a.patch_size);
  const at::Tensor grad = torch::randn({batch.num_patches(), a.hidden_size});
  for (Param& p : enc.params().params()) p.value.mutable_grad() = at::Tensor();
  int64_t start = 0, peak = 0;
  {
    CountingScope scope;
    start = scope.counter().live();
    scope.counter().reset();
    enc.features(batch).backward(grad);
    peak = scope.counter().peak();
  }
  return static_cast<double>(peak - start) / batch.num_images();
}

TEST(EncoderMemory, CounterSeesTensors) {
  CountingScope scope;
  const int64_t before = scope.counter().live();
  scope.counter().reset();
  {
    const at::Tensor t = torch::empty({256, 1024});  // 1 MiB of fp32
    EXPECT_GE(scope.counter().live() - before, int64_t{1} << 20);
  }
  EXPECT_GE(scope.counter().peak() - before, int64_t{1} << 20);
  EXPECT_LE(scope.counter().live(), before);
}

TEST(EncoderMemory, PeakPerImageStaysFlatAsLanesArePacked) {
  const EncoderArch a = small_encoder();
  const Group one = test::single_group();
  RadioEncoder enc(a, 16, 3, one, at::kCPU, at::kFloat);
  const double one_lane = peak_bytes_per_image(enc, 1);
  const double eight_lanes = peak_bytes_per_image(enc, 8);
  // [T, T] scores per head and layer would make the 8-lane cost per image
  // about 3 times the 1-lane one here: at T = 8 x 112 tokens they alone are
  // 4 x 896^2 x 4 bytes = 13 MB per layer, ~1 MB per image over 2 layers,
  // against ~0.4 MB per image of everything else.
  EXPECT_GT(one_lane, 0);
  EXPECT_LE(eight_lanes, 1.25 * one_lane) << "peak bytes per image: 1 lane " << one_lane << ", 8 lanes "
                                          << eight_lanes;
}

}  // namespace
}  // namespace hetero
