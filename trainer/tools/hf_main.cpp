// hetero-hf: Hugging Face interop outside training (single process):
// export weight snapshots as Hugging Face checkpoints and run our forward on
// a checkpoint, for comparison with transformers.
#include <cstring>
#include <iostream>
#include <string>

#include "hetero/errors.h"
#include "tools/hf_commands.h"

using namespace hetero;

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* what;
};

const Command kCommands[] = {
    {"llm-export", hf_llm_export, "write an LLM weight snapshot as a Hugging Face NemotronH checkpoint"},
    {"llm-logits", hf_llm_logits, "our LLM's logits for given tokens, from a checkpoint"},
    {"radio-features", hf_radio_features, "our RADIO encoder's per-token features for given images"},
    {"radio-export", hf_radio_export, "write an encoder weight snapshot as a Hugging Face RADIO checkpoint"},
    {"radio-bench", hf_radio_bench, "our RADIO encoder's forward + backward speed and peak memory on given images"},
};

int usage(std::ostream& out, int status) {
  out << "usage: hetero-hf <command> [options]   (hetero-hf <command> --help)\ncommands:\n";
  for (const Command& c : kCommands) out << "  " << c.name << "\t" << c.what << "\n";
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(std::cerr, 2);
  const std::string name = argv[1];
  if (name == "--help" || name == "-h") return usage(std::cout, 0);
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const ConfigError& e) {
      std::cerr << "hetero-hf " << name << ": " << e.what() << std::endl;
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "hetero-hf " << name << ": error: " << e.what() << std::endl;
      return 1;
    }
  }
  std::cerr << "hetero-hf: unknown command '" << name << "'\n";
  return usage(std::cerr, 2);
}
