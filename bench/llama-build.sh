#!/usr/bin/env bash
# llama-build.sh: build llama.cpp's llama-bench and llama-batched-bench with
# the CUDA backend for one GPU arch, from the trimmed source bench/llama-src.sh
# makes. Run on the GPU machine (about 4 minutes with -j16 for sm_90).
#
#   bench/llama-build.sh SRC BUILD [CUDA_ARCH (default 90)]
#
# Flash attention kernels for the f16 KV cache only (the llama-bench -fa 1
# default), so the build stays short; the binaries land in BUILD/bin.
set -euo pipefail
SRC=${1:?usage: bench/llama-build.sh SRC BUILD [ARCH]}
BUILD=${2:?usage: bench/llama-build.sh SRC BUILD [ARCH]}
ARCH=${3:-90}
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DGGML_NATIVE=ON -DGGML_CUDA_FA_ALL_QUANTS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_NUMBER=0 -DLLAMA_BUILD_COMMIT="$(cat "$SRC/.llama-commit" 2>/dev/null || echo unknown)" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target llama-bench llama-batched-bench >/dev/null
ls "$BUILD/bin/llama-bench" "$BUILD/bin/llama-batched-bench"
