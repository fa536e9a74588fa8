// The device-to-host copy of a checkpoint. On CUDA the training thread only
// marks where the copy may begin (after the optimizer step); the writer
// thread queues it on a side stream into pinned buffers kept from one save
// to the next and waits for it there, so the next iteration's forward and
// backward overlap it and the training thread never waits on the host for
// the bytes to move. Only the next optimizer step waits for the copy (on
// the device). On CPU it is a plain copy.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

namespace hetero {

class HostCopy {
 public:
  HostCopy();
  ~HostCopy();
  // Allocates, in a background thread, the pinned buffers for copies of
  // tensors shaped like `like`: pinning a whole model's state takes tens of
  // seconds, which the first save would otherwise stall on. start() waits
  // for it. `report` (may be empty) receives one line once it is done.
  void reserve(const std::vector<at::Tensor>& like, std::function<void(const std::string&)> report);
  // Training thread: the copy of `src` begins after the work queued so far
  // (on CPU: copies now).
  void start(const std::vector<at::Tensor>& src);
  // Writer thread: queues the copy and blocks until the host tensors hold it.
  void copy_to_host();
  const std::vector<at::Tensor>& host() const { return host_; }
  // Training thread, before a step: makes the current device stream wait for
  // the copy, so an update of the copied tensors cannot overtake it.
  void order_before_updates();

 private:
  void finish_reserve();  // joins the reserving thread; rethrows its error

  std::vector<at::Tensor> src_, host_;
  std::thread reserving_;
  std::string reserve_error_;  // set by the reserving thread
  struct DeviceSync;
  std::unique_ptr<DeviceSync> sync_;  // CUDA builds: the copy's stream and events
  // Whether copy_to_host() has queued the copy start() set up.
  std::mutex mutex_;
  std::condition_variable queued_cv_;
  bool queued_ = true;
};

}  // namespace hetero
