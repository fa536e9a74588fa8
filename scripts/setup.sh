#!/usr/bin/env bash
# Installs what hetero needs on a Debian/Ubuntu machine (only the packages
# that are missing), then configures and builds into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

# slurm-wlm: the launch tests start a real Slurm on this machine.
# libsqlite3-dev: hetero-profile reads nsys SQLite exports.
# libturbojpeg0-dev, libpng-dev: the data loader decodes JPEG and PNG images.
packages=(build-essential cmake libtorch-dev libgloo-dev libyaml-cpp-dev libboost-program-options-dev
          nlohmann-json3-dev libgtest-dev libgmock-dev libsqlite3-dev libturbojpeg0-dev libpng-dev slurm-wlm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
