#!/usr/bin/env bash
# Bundles, from this Debian machine, what a GPU machine without network may
# lack: Boost.Program_options (static library plus exactly the headers it
# includes), nlohmann/json.hpp and SQLite (static). Build there with
#   cmake -S . -B build-cuda -DHETERO_BUNDLE=$PWD/.bundle -DCMAKE_PREFIX_PATH=<torch cmake prefix>
set -euo pipefail
cd "$(dirname "$0")/.."
out=.bundle
rm -rf "$out" && mkdir -p "$out/include" "$out/lib"
probe=$(mktemp --suffix=.cpp)
printf '#include <boost/program_options.hpp>\n#include <nlohmann/json.hpp>\n' > "$probe"
g++ -std=c++17 -M "$probe" | tr ' \\' '\n\n' | grep -E '^/usr/include/(boost|nlohmann)/' | sort -u |
  while read -r h; do
    dest="$out/include/${h#/usr/include/}"
    mkdir -p "$(dirname "$dest")" && cp "$h" "$dest"
  done
rm -f "$probe"
cp /usr/lib/x86_64-linux-gnu/libboost_program_options.a "$out/lib/"
# SQLite (hetero-profile reads nsys exports), used only where the machine lacks it.
mkdir -p "$out/sqlite" && cp /usr/include/sqlite3.h /usr/include/sqlite3ext.h "$out/sqlite/"
cp /usr/lib/x86_64-linux-gnu/libsqlite3.a "$out/lib/"
echo "bundled $(find "$out" -type f | wc -l) files into $out ($(du -sh "$out" | cut -f1))"
