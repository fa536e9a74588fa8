# Sourced by the GPU scripts: `cuda_build LOG_DIR TARGET...` configures the
# CUDA build in build-cuda (LibTorch from the installed PyTorch; .bundle/
# when present, see scripts/bundle_deps.sh) and builds the targets, logs in
# LOG_DIR/configure.log and LOG_DIR/build.log. On failure it prints the
# errors and returns 1; on success one line with the time it took.
cuda_build() {
  local logs=$1
  shift
  mkdir -p "$logs"
  local t0 prefix
  t0=$(date +%s)
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') ||
    { echo "cuda_build: python3 with torch is needed (it names LibTorch's CMake prefix)"; return 1; }
  local bundle=()
  [ -d .bundle ] && bundle=(-DHETERO_BUNDLE="$PWD/.bundle")
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${bundle[@]}" \
    > "$logs/configure.log" 2>&1 || { tail -30 "$logs/configure.log"; return 1; }
  grep -E "hetero-train: LibTorch" "$logs/configure.log"
  cmake --build build-cuda -j"$(nproc)" --target "$@" > "$logs/build.log" 2>&1 ||
    { grep -E "error|FAILED" -A5 "$logs/build.log" | head -60; return 1; }
  echo "== build of $* took $(( $(date +%s) - t0 )) s"
}
