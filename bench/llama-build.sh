#!/usr/bin/env bash
# llama-build.sh: build llama.cpp's llama-bench, llama-batched-bench and (when
# the source has tools/server) llama-server, for one CUDA arch or for the
# CPU, from the trimmed source bench/llama-src.sh makes or the whole
# reference tree scripts/fetch-reference.sh clones. On the GPU machine about
# 4 minutes with -j16 for sm_90; the CPU build about 4 minutes on 2 cores.
#
#   bench/llama-build.sh SRC BUILD [CUDA_ARCH (default 90) | cpu]
#
# CUDA: flash attention kernels for the f16 KV cache only (the llama-bench
# -fa 1 default), so the build stays short. No web UI in llama-server (its
# assets would need npm or a download). The binaries land in BUILD/bin.
set -euo pipefail
SRC=${1:?usage: bench/llama-build.sh SRC BUILD [ARCH|cpu]}
BUILD=${2:?usage: bench/llama-build.sh SRC BUILD [ARCH|cpu]}
ARCH=${3:-90}
if [ "$ARCH" = cpu ]; then
    BACKEND=(-DGGML_CUDA=OFF)
else
    BACKEND=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DGGML_CUDA_FA_ALL_QUANTS=OFF)
fi
TARGETS=(llama-bench llama-batched-bench)
SERVER=OFF
if [ -d "$SRC/tools/server" ]; then
    TARGETS+=(llama-server)
    SERVER=ON
fi
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${BACKEND[@]}" -DGGML_NATIVE=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=$SERVER -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_NUMBER=0 -DLLAMA_BUILD_COMMIT="$(cat "$SRC/.llama-commit" 2>/dev/null ||
        git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >/dev/null
# the commit, where the benchmarks that take --llama-bin BUILD/bin look for it
(cat "$SRC/.llama-commit" 2>/dev/null || git -C "$SRC" rev-parse HEAD 2>/dev/null) >"$BUILD/.llama-commit" || true
for t in "${TARGETS[@]}"; do ls "$BUILD/bin/$t"; done
