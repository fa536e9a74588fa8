// The device-to-host copy of a checkpoint. On CUDA it runs on a side
// stream into pinned buffers kept from one save to the next, so the next
// iteration's forward and backward overlap it; only the next optimizer
// step has to wait for it (on the device, not the host). On CPU it is a
// plain copy.
#pragma once

#include <memory>
#include <vector>

#include <ATen/ATen.h>

namespace hetero {

class HostCopy {
 public:
  HostCopy();
  ~HostCopy();
  // Starts copying `src`; the host tensors are valid after wait_on_host().
  void start(const std::vector<at::Tensor>& src);
  const std::vector<at::Tensor>& host() const { return host_; }
  // Blocks the calling thread until the copy is complete (the writer thread).
  void wait_on_host();
  // Makes the current device stream wait for the copy, so an update of the
  // copied tensors cannot overtake it (the training thread, before a step).
  void order_before_updates();

 private:
  std::vector<at::Tensor> host_;
  struct DeviceSync;
  std::unique_ptr<DeviceSync> sync_;  // CUDA builds: the copy's stream and event
};

}  // namespace hetero
