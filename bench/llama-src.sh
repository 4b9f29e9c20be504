#!/usr/bin/env bash
# llama-src.sh: a trimmed copy of llama.cpp's source, small enough to carry
# to the GPU machine (which reaches no registry), for building llama.cpp's
# CUDA backend there as the side-by-side reference of bench/gpu_bench.sh.
#
#   bench/llama-src.sh DEST
#
# The source is the tree scripts/fetch-reference.sh cloned from the npm
# package node-llama-cpp's git bundle (the same llama.cpp as the prebuilt
# libllama the CPU conformance suite uses). Kept: the top-level CMake files,
# include/, src/, common/, vendor/, ggml/ with only the CPU and CUDA backends,
# and tools/ with llama-bench, llama-batched-bench and llama-server (with
# mtmd, which it links, and the web UI's CMake without its sources: the
# server is built without a UI); tools/CMakeLists.txt is rewritten to name
# just those. About 25 MB. Build it with bench/llama-build.sh.
set -euo pipefail
DEST=${1:?usage: bench/llama-src.sh DEST}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=$("$ROOT/scripts/fetch-reference.sh")
SRC=$REF/llama.cpp
rm -rf "$DEST"
mkdir -p "$DEST/ggml/src" "$DEST/tools"
cp "$SRC"/CMakeLists.txt "$SRC"/LICENSE "$DEST"/
cp -r "$SRC"/cmake "$SRC"/include "$SRC"/src "$SRC"/common "$SRC"/vendor "$DEST"/
for f in "$SRC"/ggml/*; do
    [ "$(basename "$f")" = src ] || cp -r "$f" "$DEST/ggml/"
done
for f in "$SRC"/ggml/src/*; do
    case $(basename "$f") in
    ggml-*) [ -d "$f" ] || cp "$f" "$DEST/ggml/src/" ;;
    *) cp -r "$f" "$DEST/ggml/src/" ;;
    esac
done
cp -r "$SRC"/ggml/src/ggml-cpu "$SRC"/ggml/src/ggml-cuda "$DEST/ggml/src/"
cp -r "$SRC"/tools/llama-bench "$SRC"/tools/batched-bench "$SRC"/tools/mtmd "$DEST/tools/"
mkdir -p "$DEST/tools/server" "$DEST/tools/ui" "$DEST/scripts"
cp "$SRC"/tools/server/*.cpp "$SRC"/tools/server/*.h "$SRC"/tools/server/CMakeLists.txt "$DEST/tools/server/"
cp "$SRC"/tools/ui/CMakeLists.txt "$SRC"/tools/ui/sources.cmake "$SRC"/tools/ui/*.in "$DEST/tools/ui/"
cp "$SRC"/scripts/ui-assets.cmake "$DEST/scripts/"
cat >"$DEST/tools/CMakeLists.txt" <<'EOF'
# trimmed by ROCmForge's bench/llama-src.sh: the benchmarks and the server
find_package(Threads REQUIRED)
llama_add_compile_flags()
add_subdirectory(batched-bench)
add_subdirectory(llama-bench)
add_subdirectory(mtmd)
if (LLAMA_BUILD_SERVER)
    add_subdirectory(ui)
    add_subdirectory(server)
endif()
EOF
# the version comes from git, which the copy does not carry
git -C "$SRC" rev-parse HEAD >"$DEST/.llama-commit" 2>/dev/null || true
du -sh "$DEST" | cut -f1
