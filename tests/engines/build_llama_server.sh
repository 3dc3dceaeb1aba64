#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (CPU only) from the llama.cpp copy vendored in the
# `llama-cpp-python` sdist on PyPI, into a cache directory, and print the binary's path.
#
#   tests/engines/build_llama_server.sh            # build if needed, print .../bin/llama-server
#   tests/engines/build_llama_server.sh --source   # only fetch + unpack, print the llama.cpp dir
#                                                  # (convert_hf_to_gguf.py, gguf-py/ live there)
#
# Idempotent: a stamp file makes a second run instant; concurrent runs serialise on a lock.
# Only stdout carries the path; progress and build output go to stderr.
#
# Environment:
#   SIGHTD_TEST_CACHE        cache root (default ~/.cache/sightd-test)
#   LLAMA_CPP_PYTHON_VERSION sdist version to use (default pinned below)
#   PYTHON                   interpreter whose pip downloads the sdist (default python3)
#   LLAMA_BUILD_JOBS         parallel compile jobs (default: nproc)
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${SIGHTD_TEST_CACHE:-$HOME/.cache/sightd-test}"
ROOT="$CACHE/llama.cpp-$VERSION"
SRC="$ROOT/llama.cpp"
BUILD="$ROOT/build"
BIN="$BUILD/bin/llama-server"
SRC_STAMP="$ROOT/.source-ok"
BUILD_STAMP="$ROOT/.build-ok"
PYTHON="${PYTHON:-python3}"
JOBS="${LLAMA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

mode=build
case "${1:-}" in
  "") ;;
  --source) mode=source ;;
  *) echo "usage: $0 [--source]" >&2; exit 2 ;;
esac

# Fast path, without taking the lock.
if [ "$mode" = source ] && [ -f "$SRC_STAMP" ]; then echo "$SRC"; exit 0; fi
if [ "$mode" = build ] && [ -f "$BUILD_STAMP" ] && [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

log() { echo "[build_llama_server] $*" >&2; }

if [ ! -f "$SRC_STAMP" ]; then
  dl="$ROOT/download"
  rm -rf "$dl" "$SRC"
  mkdir -p "$dl"
  log "downloading llama-cpp-python==$VERSION sdist (~77 MB) via pip"
  "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
    "llama-cpp-python==$VERSION" -d "$dl" >&2
  sdist="$(ls "$dl"/llama_cpp_python-"$VERSION".tar.gz)"
  log "unpacking vendor/llama.cpp"
  tar -xzf "$sdist" -C "$dl" "llama_cpp_python-$VERSION/vendor/llama.cpp"
  mv "$dl/llama_cpp_python-$VERSION/vendor/llama.cpp" "$SRC"
  # a submodule gitlink pointing into the sdist's (absent) .git: makes cmake's git calls fail
  if [ -f "$SRC/.git" ]; then rm -f "$SRC/.git"; fi
  rm -rf "$dl"
  touch "$SRC_STAMP"
fi

if [ "$mode" = source ]; then echo "$SRC"; exit 0; fi

if [ ! -f "$BUILD_STAMP" ] || [ ! -x "$BIN" ]; then
  generator=()
  if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
  rm -rf "$BUILD"
  # CPU only, static (self-contained binary), no network at configure/build time:
  # LLAMA_CURL is deprecated (ignored) in this llama.cpp, HTTPS is off, the web UI is neither
  # built with npm nor downloaded from the HF bucket (the server then has no UI, API only).
  # OpenMP off: ggml's own thread pool, no libgomp busy-waiting (tests run with -t 1).
  log "configuring ($BUILD)"
  cmake -S "$SRC" -B "$BUILD" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DGGML_NATIVE=ON \
    -DGGML_OPENMP=OFF \
    -DGGML_CCACHE=OFF \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF \
    >&2
  log "building llama-server with $JOBS jobs"
  start=$(date +%s)
  cmake --build "$BUILD" --config Release --target llama-server -j "$JOBS" >&2
  log "built in $(( $(date +%s) - start ))s"
  test -x "$BIN"
  touch "$BUILD_STAMP"
fi

echo "$BIN"
