// The report's three forms: text for people, JSON for scripts, and one
// self-contained HTML page (inline SVG drawn by inline JS, no network).
#pragma once

#include <string>

#include "report.h"

namespace hetero::profiler {

struct TextOptions {
  bool per_iteration = true;  // the per-iteration table
  int path_segments = 40;     // critical path segments listed (the rest summed)
};

std::string render_text(const Report& report, const TextOptions& options = {});
std::string render_json(const Report& report);
std::string render_html(const Report& report);

// "rank 3 llm lane 1 stage 0" (tp only when > 0).
std::string describe_role(const RankRole& role);

}  // namespace hetero::profiler
