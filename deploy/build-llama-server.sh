#!/usr/bin/env bash
# Build llama.cpp's own HTTP server (`llama-server`: parallel slots, continuous batching) for the
# model gateway, from the llama.cpp sources that llama-cpp-python's source distribution vendors
# (MIT), at the llama-cpp-python version installed in PYTHON's environment, and install it as DEST.
# The binary is self-contained (static llama/ggml libraries) and cached per llama.cpp version and
# build flags under ~/.cache/nexus/llama-server, so a second run on the same machine only copies it.
#
#   deploy/build-llama-server.sh PYTHON DEST [extra cmake arguments...]
#   (`make llama-server` runs it with the venv's python, DEST=.venv/bin/llama-server and the
#   Makefile's LLAMA_CMAKE_ARGS)
set -euo pipefail
python=$1
dest=$2
shift 2

version=$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
key=$(printf '%s\n' "$version" "$(uname -m)" "$@" | sha256sum | cut -c1-12)
cache=${NEXUS_LLAMA_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nexus/llama-server}/$version-$key

if [ ! -x "$cache/llama-server" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  started=$(date +%s)
  echo "llama-server: building llama.cpp $version (llama-cpp-python's sources) into $cache"
  "$python" -m pip download -q --no-deps --no-binary :all: --dest "$work" "llama-cpp-python==$version"
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
  src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
  cmake=$(command -v cmake || true)
  if [ -z "$cmake" ]; then  # the cmake wheel, inside the venv, when the system has none
    "$python" -m pip install -q cmake
    cmake=$(dirname "$python")/cmake
  fi
  # Only the server: no tests, examples, web UI (built with npm or downloaded: neither is wanted),
  # no HTTPS or curl (the gateway talks to it over loopback HTTP and it never downloads models).
  "$cmake" -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    "$@" >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log"; exit 1; }
  "$cmake" --build "$work/build" --target llama-server -j"$(nproc)" >"$work/build.log" 2>&1 ||
    { tail -60 "$work/build.log"; exit 1; }
  "$work/build/bin/llama-server" --version >/dev/null 2>&1 ||
    { echo "llama-server: the built binary does not run"; exit 1; }
  mkdir -p "$cache"
  cp "$work/build/bin/llama-server" "$cache/llama-server.partial"
  mv "$cache/llama-server.partial" "$cache/llama-server"
  echo "llama-server: built in $(($(date +%s) - started)) s"
fi
mkdir -p "$(dirname "$dest")"
install -m 755 "$cache/llama-server" "$dest"
echo "llama-server: $dest (llama.cpp from llama-cpp-python $version)"
