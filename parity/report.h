// Renderings of a parity Report: a text table for the terminal, JSON for
// scripts and Markdown for issues and pull requests.
#pragma once

#include <string>
#include <vector>

#include "compare.h"

namespace hetero::parity {

struct TextOptions {
  bool brief = false;  // leave out the rows that are "ok"
};

std::string render_text(const Report& r, const TextOptions& opt = {});
std::string render_json(const Report& r);  // format "hetero-parity-report-v1"
std::string render_markdown(const Report& r);

// "1-3, 7, 9-10": a sorted list of iterations as ranges.
std::string iteration_ranges(const std::vector<int>& iters);

}  // namespace hetero::parity
