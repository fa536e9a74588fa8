// The subcommands of hetero-hf, one file each.
#pragma once

namespace hetero {

// argv[0] is the subcommand's name; each returns the process exit status.
int hf_llm_export(int argc, char** argv);      // hf_llm_export.cpp
int hf_llm_logits(int argc, char** argv);      // hf_llm_logits.cpp
int hf_radio_features(int argc, char** argv);  // hf_radio_features.cpp
int hf_radio_export(int argc, char** argv);    // hf_radio_features.cpp
int hf_radio_bench(int argc, char** argv);     // hf_radio_bench.cpp

}  // namespace hetero
