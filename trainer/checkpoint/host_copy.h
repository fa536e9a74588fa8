// The device-to-host copy of a checkpoint. On CUDA it runs on a side
// stream into pinned buffers kept from one save to the next, so the next
// iteration's forward and backward overlap it; only the next optimizer
// step has to wait for it (on the device, not the host). On CPU it is a
// plain copy.
#pragma once

#include <functional>
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
  // Starts copying `src`; the host tensors are valid after wait_on_host().
  void start(const std::vector<at::Tensor>& src);
  const std::vector<at::Tensor>& host() const { return host_; }
  // Blocks the calling thread until the copy is complete (the writer thread).
  void wait_on_host();
  // Makes the current device stream wait for the copy, so an update of the
  // copied tensors cannot overtake it (the training thread, before a step).
  void order_before_updates();

 private:
  void finish_reserve();  // joins the reserving thread; rethrows its error

  std::vector<at::Tensor> host_;
  std::thread reserving_;
  std::string reserve_error_;  // set by the reserving thread
  struct DeviceSync;
  std::unique_ptr<DeviceSync> sync_;  // CUDA builds: the copy's stream and event
};

}  // namespace hetero
