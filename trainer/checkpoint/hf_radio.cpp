#include "checkpoint/hf_radio.h"

#include "hetero/errors.h"

namespace hetero {

void load_hf_radio(RadioEncoder&, const std::string& dir, const EncoderArch&) {
  throw ConfigError("--encoder-init-from-hf " + dir + ": not implemented yet");
}

}  // namespace hetero
