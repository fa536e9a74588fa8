#include "svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

namespace hetero::parity {
namespace {

constexpr double kWidth = 960, kHeight = 640;
constexpr double kLeft = 90, kRight = 30;
constexpr double kLossTop = 70, kLossBottom = 370;
constexpr double kRelTop = 430, kRelBottom = 580;
const char* kColorA = "#1f77b4";
const char* kColorB = "#ff7f0e";
const char* kColorBad = "#d62728";

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// About `n` round tick values (1, 2, 5 x 10^k) covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int n) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string tick_label(double v) {
  std::string s = fmt("%.6g", v);
  return s;
}

struct Axis {
  double lo, hi, px_lo, px_hi;  // value range -> pixel range
  double operator()(double v) const { return px_lo + (v - lo) / (hi - lo) * (px_hi - px_lo); }
};

// A polyline through the points of one series, broken where it has no value.
std::string series_path(const std::vector<MetricRow>& rows, const Axis& x, const Axis& y,
                        std::optional<double> MetricRow::*field) {
  std::string d;
  bool pen = false;
  for (const auto& row : rows) {
    const auto& v = row.*field;
    if (!v || !std::isfinite(*v)) {
      pen = false;
      continue;
    }
    d += (pen ? "L" : "M") + fmt("%.2f", x(row.iter)) + "," + fmt("%.2f", y(std::clamp(*v, y.lo, y.hi))) + " ";
    pen = true;
  }
  return d;
}

}  // namespace

std::string render_svg(const Report& r) {
  std::ostringstream o;
  // x range over every iteration of either run.
  double xlo = 0, xhi = 1;
  if (!r.rows.empty()) {
    xlo = r.rows.front().iter;
    xhi = r.rows.back().iter;
  }
  if (xhi <= xlo) {
    xlo -= 1;
    xhi += 1;
  }
  const Axis x{xlo, xhi, kLeft, kWidth - kRight};

  // Loss range over both runs.
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& row : r.rows)
    for (const auto& v : {row.loss_a, row.loss_b})
      if (v && std::isfinite(*v)) {
        lo = std::min(lo, *v);
        hi = std::max(hi, *v);
      }
  if (!(hi >= lo)) {
    lo = 0;
    hi = 1;
  }
  const double span = hi > lo ? hi - lo : std::max(std::fabs(hi), 1.0);
  lo -= 0.05 * span;
  hi += 0.05 * span;
  const Axis y{lo, hi, kLossBottom, kLossTop};

  // |relative difference| range, in decades, always showing the tolerance.
  const double rtol = r.tol.loss_rtol > 0 ? r.tol.loss_rtol : 1e-12;
  double rmin = rtol, rmax = rtol;
  for (const auto& row : r.rows)
    if (row.loss_rel && std::isfinite(*row.loss_rel) && *row.loss_rel != 0) {
      rmin = std::min(rmin, std::fabs(*row.loss_rel));
      rmax = std::max(rmax, std::fabs(*row.loss_rel));
    }
  const double dlo = std::floor(std::log10(rmin)) - 1, dhi = std::ceil(std::log10(rmax)) + 1;
  const double dzero = dlo - 0.75;  // exact zeros get a row of their own below the lowest decade
  const Axis yr{dzero, dhi, kRelBottom, kRelTop};

  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
    << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << kWidth / 2
    << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">hetero-parity: " << (r.pass() ? "PASS" : "FAIL")
    << "</text>\n";
  o << "<text x=\"" << kWidth / 2 << "\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">A " << esc(r.a.path)
    << "  vs  B " << esc(r.b.path) << "</text>\n";

  // Frames, grid and tick labels.
  auto frame = [&](double top, double bottom) {
    o << "<rect x=\"" << kLeft << "\" y=\"" << top << "\" width=\"" << kWidth - kRight - kLeft << "\" height=\""
      << bottom - top << "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (double t : ticks(xlo, xhi, 8)) {
      if (t < xlo || t > xhi || std::fabs(t - std::round(t)) > 1e-9) continue;
      o << "<line x1=\"" << fmt("%.2f", x(t)) << "\" y1=\"" << top << "\" x2=\"" << fmt("%.2f", x(t)) << "\" y2=\""
        << bottom << "\" stroke=\"#eee\"/>\n";
      o << "<text x=\"" << fmt("%.2f", x(t)) << "\" y=\"" << bottom + 16 << "\" text-anchor=\"middle\">"
        << tick_label(t) << "</text>\n";
    }
  };
  frame(kLossTop, kLossBottom);
  for (double t : ticks(lo, hi, 6)) {
    if (t < lo || t > hi) continue;
    o << "<line x1=\"" << kLeft << "\" y1=\"" << fmt("%.2f", y(t)) << "\" x2=\"" << kWidth - kRight << "\" y2=\""
      << fmt("%.2f", y(t)) << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << kLeft - 6 << "\" y=\"" << fmt("%.2f", y(t) + 4) << "\" text-anchor=\"end\">" << tick_label(t)
      << "</text>\n";
  }
  frame(kRelTop, kRelBottom);
  for (double d = dlo; d <= dhi + 1e-9; d += 1) {
    o << "<line x1=\"" << kLeft << "\" y1=\"" << fmt("%.2f", yr(d)) << "\" x2=\"" << kWidth - kRight << "\" y2=\""
      << fmt("%.2f", yr(d)) << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << kLeft - 6 << "\" y=\"" << fmt("%.2f", yr(d) + 4) << "\" text-anchor=\"end\">1e"
      << static_cast<int>(d) << "</text>\n";
  }
  o << "<text x=\"" << kLeft - 6 << "\" y=\"" << fmt("%.2f", yr(dzero) + 4) << "\" text-anchor=\"end\">0</text>\n";

  // Axis labels.
  o << "<text x=\"" << (kLeft + kWidth - kRight) / 2 << "\" y=\"" << kLossBottom + 34
    << "\" text-anchor=\"middle\">iteration</text>\n";
  o << "<text x=\"" << (kLeft + kWidth - kRight) / 2 << "\" y=\"" << kRelBottom + 34
    << "\" text-anchor=\"middle\">iteration</text>\n";
  o << "<text transform=\"translate(22," << (kLossTop + kLossBottom) / 2
    << ") rotate(-90)\" text-anchor=\"middle\">lm loss</text>\n";
  o << "<text transform=\"translate(22," << (kRelTop + kRelBottom) / 2
    << ") rotate(-90)\" text-anchor=\"middle\">|relative &#916; lm loss|</text>\n";

  // Loss curves.
  o << "<path d=\"" << series_path(r.rows, x, y, &MetricRow::loss_b) << "\" fill=\"none\" stroke=\"" << kColorB
    << "\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/>\n";
  o << "<path d=\"" << series_path(r.rows, x, y, &MetricRow::loss_a) << "\" fill=\"none\" stroke=\"" << kColorA
    << "\" stroke-width=\"1.5\"/>\n";
  // Legend.
  const double lx = kLeft + 12, ly = kLossTop + 16;
  o << "<line x1=\"" << lx << "\" y1=\"" << ly << "\" x2=\"" << lx + 28 << "\" y2=\"" << ly << "\" stroke=\"" << kColorA
    << "\" stroke-width=\"1.5\"/><text x=\"" << lx + 34 << "\" y=\"" << ly + 4 << "\">A " << esc(r.a.path)
    << "</text>\n";
  o << "<line x1=\"" << lx << "\" y1=\"" << ly + 18 << "\" x2=\"" << lx + 28 << "\" y2=\"" << ly + 18 << "\" stroke=\""
    << kColorB << "\" stroke-width=\"2\" stroke-dasharray=\"6,4\"/><text x=\"" << lx + 34 << "\" y=\"" << ly + 22
    << "\">B " << esc(r.b.path) << "</text>\n";

  // Relative difference: points (red when the row violates), the tolerance line.
  o << "<line x1=\"" << kLeft << "\" y1=\"" << fmt("%.2f", yr(std::log10(rtol))) << "\" x2=\"" << kWidth - kRight
    << "\" y2=\"" << fmt("%.2f", yr(std::log10(rtol))) << "\" stroke=\"" << kColorBad
    << "\" stroke-dasharray=\"4,3\"/>\n";
  o << "<text x=\"" << kWidth - kRight - 4 << "\" y=\"" << fmt("%.2f", yr(std::log10(rtol)) - 4)
    << "\" text-anchor=\"end\" fill=\"" << kColorBad << "\">loss rtol " << fmt("%g", rtol) << "</text>\n";
  std::string d;
  bool pen = false;
  for (const auto& row : r.rows) {
    if (!row.loss_rel) {
      pen = false;
      continue;
    }
    const double v = std::fabs(*row.loss_rel);
    // zero sits on the floor of the axis (labelled 0), non-finite on its ceiling
    const double lv = !std::isfinite(v) ? dhi : v == 0 ? dzero : std::clamp(std::log10(v), dlo, dhi);
    const double px = x(row.iter), py = yr(lv);
    d += (pen ? "L" : "M") + fmt("%.2f", px) + "," + fmt("%.2f", py) + " ";
    pen = true;
    if (r.rows.size() > 500 && !row.violation()) continue;  // long runs stay small: only the bad points
    o << "<circle cx=\"" << fmt("%.2f", px) << "\" cy=\"" << fmt("%.2f", py) << "\" r=\"2.5\" fill=\""
      << (row.violation() ? kColorBad : "#333") << "\"><title>iteration " << row.iter << ": "
      << fmt("%+.3e", *row.loss_rel) << "</title></circle>\n";
  }
  o << "<path d=\"" << d << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  o << "</svg>\n";
  return o.str();
}

}  // namespace hetero::parity
