// Hugging Face RADIO checkpoints: initialise the vision encoder from public
// C-RADIO weights.
#pragma once

#include <string>

#include "hetero/recipe.h"
#include "model/radio_encoder.h"

namespace hetero {

// Loads this rank's tp shards of the encoder from a Hugging Face RADIO
// checkpoint folder.
void load_hf_radio(RadioEncoder& encoder, const std::string& dir, const EncoderArch& arch);

}  // namespace hetero
