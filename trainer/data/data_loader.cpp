#include "data/data_loader.h"

#include <chrono>

namespace hetero {

DataLoader::DataLoader(std::unique_ptr<Dataset> dataset, int threads, int depth, Plan plan)
    : dataset_(std::move(dataset)), depth_(plan ? depth : 0), plan_(std::move(plan)) {
  if (depth_ > 0)
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { worker(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    queue_.clear();  // pending reads are abandoned; their futures are never waited on again
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void DataLoader::worker() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void DataLoader::enqueue(std::function<void()> task) {
  queue_.push_back(std::move(task));
  wake_.notify_one();
}

ImagePixels DataLoader::decode(std::uint64_t index, int image) {
  const auto t0 = std::chrono::steady_clock::now();
  ImagePixels p = dataset_->image(index, image);
  decode_ns_ += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  ++images_;
  return p;
}

void DataLoader::schedule(const Fetch& f, int iter) {
  // The text side of each sample: promised now, read by the fetch's task.
  auto promises = std::make_shared<std::vector<std::pair<std::uint64_t, std::promise<Sample>>>>();
  for (std::uint64_t s : f.samples) {
    auto it = samples_.find(s);
    if (it != samples_.end()) {
      it->second.iter = std::max(it->second.iter, iter);
      continue;
    }
    promises->emplace_back(s, std::promise<Sample>());
    samples_[s] = {promises->back().second.get_future().share(), iter};
  }
  auto done = std::make_shared<std::promise<void>>();
  fetches_.push_back({done->get_future().share(), iter});
  enqueue([this, f, iter, promises, done] {
    std::map<std::uint64_t, int> image_counts;
    for (auto& [s, p] : *promises) {
      try {
        Sample meta = dataset_->sample(s);
        image_counts[s] = static_cast<int>(meta.images.size());
        p.set_value(std::move(meta));
      } catch (...) {
        p.set_exception(std::current_exception());
      }
    }
    if (f.pixels != Fetch::Pixels::None) {
      try {
        int n = 0;
        std::vector<std::pair<std::uint64_t, int>> images;  // (sample, image) in microbatch order
        for (std::uint64_t s : f.samples) {
          // Read here if an earlier fetch promised it (never waits on a queued task).
          if (!image_counts.count(s)) image_counts[s] = static_cast<int>(dataset_->sample(s).images.size());
          for (int i = 0; i < image_counts[s]; ++i) images.emplace_back(s, i);
          n += image_counts[s];
        }
        const auto [b, e] = fetch_image_range(f, n);
        std::lock_guard<std::mutex> lock(mutex_);
        for (int k = b; k < e; ++k) {
          if (pixels_.count(images[k])) continue;
          auto p = std::make_shared<std::promise<ImagePixels>>();
          pixels_[images[k]] = {p->get_future().share(), iter};
          const auto key = images[k];
          enqueue([this, p, key] {
            try {
              p->set_value(decode(key.first, key.second));
            } catch (...) {
              p->set_exception(std::current_exception());
            }
          });
        }
      } catch (...) {
        // A sample that does not read: its consumer sees the error from sample().
      }
    }
    done->set_value();
  });
}

void DataLoader::begin_iteration(int iter) {
  if (depth_ == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto older = [&](auto& map) {
    for (auto it = map.begin(); it != map.end();) it = it->second.iter < iter ? map.erase(it) : std::next(it);
  };
  older(samples_);
  older(pixels_);
  std::vector<Entry<void>> keep;
  for (auto& f : fetches_)
    if (f.iter >= iter) keep.push_back(f);
  fetches_.swap(keep);
  for (int it = std::max(planned_through_ + 1, iter); it <= iter + depth_; ++it)
    for (const Fetch& f : plan_(it)) schedule(f, it);
  planned_through_ = std::max(planned_through_, iter + depth_);
}

Sample DataLoader::sample(std::uint64_t index) {
  std::shared_future<Sample> f;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = samples_.find(index); it != samples_.end()) f = it->second.value;
  }
  return f.valid() ? f.get() : dataset_->sample(index);
}

std::vector<Sample> DataLoader::samples(const std::vector<std::uint64_t>& indices) {
  std::vector<Sample> out;
  out.reserve(indices.size());
  for (std::uint64_t i : indices) out.push_back(sample(i));
  return out;
}

ImagePixels DataLoader::image(std::uint64_t index, int image) {
  const auto key = std::make_pair(index, image);
  auto lookup = [&]() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pixels_.find(key);
    return it == pixels_.end() ? std::shared_future<ImagePixels>() : it->second.value;
  };
  std::shared_future<ImagePixels> f = lookup();
  if (!f.valid() && depth_ > 0) {
    // Its fetch may not have listed its images yet.
    std::vector<std::shared_future<void>> pending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& e : fetches_) pending.push_back(e.value);
    }
    for (auto& p : pending) p.wait();
    f = lookup();
  }
  ImagePixels p = f.valid() ? f.get() : decode(index, image);
  replaced_ += p.replaced;  // counted as handed out: each image once, whatever was read ahead
  return p;
}

LoaderStats DataLoader::stats() const { return {images_.load(), decode_ns_.load() * 1e-9, replaced_.load()}; }

}  // namespace hetero
