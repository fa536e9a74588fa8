// The loader in front of a dataset: background threads read and decode what
// the next data.prefetch_depth iterations of this rank will ask for (its
// rank_fetches), while the step runs. What it holds is derived from the
// iteration alone, so a resumed start needs no loader state. Anything not
// prefetched is read on the caller's thread; errors surface where the data
// is used, with the dataset's message.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/rank_plan.h"

namespace hetero {

struct LoaderStats {
  std::uint64_t images = 0;  // decoded (resized, cut into patches)
  double decode_seconds = 0; // summed over threads
  std::uint64_t replaced = 0; // images handed out black because they did not decode (skip_bad_samples)
};

class DataLoader {
 public:
  using Plan = std::function<std::vector<Fetch>(int iter)>;
  // depth 0 or no plan: no threads, everything read on demand.
  DataLoader(std::unique_ptr<Dataset> dataset, int threads, int depth, Plan plan);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Forgets what earlier iterations read and starts reading ahead through
  // iteration iter + depth.
  void begin_iteration(int iter);

  Sample sample(std::uint64_t index);
  std::vector<Sample> samples(const std::vector<std::uint64_t>& indices);
  ImagePixels image(std::uint64_t index, int image);

  const Dataset& dataset() const { return *dataset_; }
  LoaderStats stats() const;

 private:
  template <typename T>
  struct Entry {
    std::shared_future<T> value;
    int iter;
  };
  void enqueue(std::function<void()> task);
  void schedule(const Fetch& f, int iter);  // called with mutex_ held
  void worker();
  ImagePixels decode(std::uint64_t index, int image);

  std::unique_ptr<Dataset> dataset_;
  int depth_;
  Plan plan_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
  int planned_through_ = 0;
  std::map<std::uint64_t, Entry<Sample>> samples_;
  std::map<std::pair<std::uint64_t, int>, Entry<ImagePixels>> pixels_;
  std::vector<Entry<void>> fetches_;  // a fetch's task, done once its pixel entries exist
  std::atomic<std::uint64_t> images_{0}, decode_ns_{0}, replaced_{0};
};

}  // namespace hetero
