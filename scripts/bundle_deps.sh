#!/usr/bin/env bash
# Bundles, from this Debian machine, what a GPU machine without network may
# lack: Boost.Program_options (static library plus exactly the headers it
# includes), nlohmann/json.hpp, SQLite, and libjpeg-turbo, libpng and zlib
# for the data loader (static libraries and their headers). Build there with
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
# Image decoding (trainer/data/): libjpeg-turbo's TurboJPEG API, libpng and
# the zlib it needs; used only where the machine lacks the headers.
mkdir -p "$out/image/include"
cp /usr/include/turbojpeg.h /usr/include/zlib.h /usr/include/zconf.h "$out/image/include/"
cp -L /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h "$out/image/include/"
cp /usr/lib/x86_64-linux-gnu/libturbojpeg.a /usr/lib/x86_64-linux-gnu/libpng16.a /usr/lib/x86_64-linux-gnu/libz.a \
  "$out/lib/"
echo "bundled $(find "$out" -type f | wc -l) files into $out ($(du -sh "$out" | cut -f1))"
