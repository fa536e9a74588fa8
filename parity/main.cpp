// hetero-parity: compares two runs iteration by iteration. So far `diff` of
// two metrics.jsonl files on lm loss and grad norm; paired runs and
// embedding cosines come with the parity issue.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/run_dir.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {
double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-30); }
}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || std::string(argv[1]) != "diff") {
      std::cerr << "usage: hetero-parity diff RUN_A RUN_B [--loss-rtol X] [--grad-norm-rtol Y]\n";
      return 2;
    }
    std::string a, b;
    double loss_rtol = 0, gn_rtol = 0;
    po::options_description desc("hetero-parity diff RUN_A RUN_B\nOptions");
    desc.add_options()("help,h", "show this help")("a", po::value(&a)->required(), "first run directory")(
        "b", po::value(&b)->required(), "second (reference) run directory")(
        "loss-rtol", po::value(&loss_rtol)->default_value(1e-5), "relative tolerance on lm loss")(
        "grad-norm-rtol", po::value(&gn_rtol)->default_value(1e-5), "relative tolerance on grad norm");
    po::positional_options_description pos;
    pos.add("a", 1).add("b", 1);
    if (!parse_command_line(argc - 1, argv + 1, desc, "hetero-parity diff", &pos)) return 0;
    const auto ma = read_metrics(RunPaths{a}.metrics()), mb = read_metrics(RunPaths{b}.metrics());
    std::map<int, IterationMetrics> by_iter;
    for (const auto& m : mb) by_iter[m.iter] = m;
    std::printf("%6s %14s %14s %10s %12s %12s %10s\n", "iter", "loss A", "loss B", "rel d", "gnorm A", "gnorm B", "rel d");
    int first_bad = -1, compared = 0;
    for (const auto& m : ma) {
      auto it = by_iter.find(m.iter);
      if (it == by_iter.end()) {
        std::printf("%6d %14.7e %14s\n", m.iter, m.lm_loss, "missing");
        if (first_bad < 0) first_bad = m.iter;
        continue;
      }
      ++compared;
      const double dl = rel(m.lm_loss, it->second.lm_loss), dg = rel(m.grad_norm, it->second.grad_norm);
      std::printf("%6d %14.7e %14.7e %10.2e %12.6e %12.6e %10.2e\n", m.iter, m.lm_loss, it->second.lm_loss, dl,
                  m.grad_norm, it->second.grad_norm, dg);
      if ((dl > loss_rtol || dg > gn_rtol || !std::isfinite(dl) || !std::isfinite(dg)) && first_bad < 0)
        first_bad = m.iter;
    }
    if (ma.size() != mb.size())
      std::printf("runs differ in length: %zu vs %zu iterations\n", ma.size(), mb.size());
    if (first_bad >= 0) {
      std::printf("FAIL: first violation at iteration %d (loss rtol %.1e, grad norm rtol %.1e)\n", first_bad, loss_rtol,
                  gn_rtol);
      return 1;
    }
    if (compared == 0) {
      std::printf("FAIL: no iteration in common\n");
      return 1;
    }
    std::printf("OK: %d iterations within loss rtol %.1e and grad norm rtol %.1e\n", compared, loss_rtol, gn_rtol);
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-parity: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-parity: error: " << e.what() << std::endl;
    return 1;
  }
}
