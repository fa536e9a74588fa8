// A weight snapshot of hetero-train --save-weights-at N as a WeightSource:
// the LLM's files of RUN/weights/iter-N (RunPaths::weights_file), whatever
// layout wrote them: dense tensors per pipeline stage (llm-stage-S), MoE
// experts per expert-parallel rank (llm-experts-epE-stage-S). Every tensor
// is full, under our name, in our layout.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/weight_source.h"
#include "hetero/safetensors.h"

namespace hetero {

class SnapshotSource : public WeightSource {
 public:
  // Reads the headers of every "<module>-*stage-*.safetensors" of the
  // iteration. Throws, naming the folder and the --save-weights-at that
  // writes it, when there is none.
  SnapshotSource(const std::string& run_dir, int iter, const std::string& module = "llm");
  std::string describe() const override;
  at::Tensor full(const std::string& name) override;
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafeTensorReader>> files_;
  std::map<std::string, const SafeTensorReader*> where_;
};

}  // namespace hetero
