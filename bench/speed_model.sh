#!/usr/bin/env bash
# speed_model.sh: the Llama-3.2-1B-shaped model with random weights that the
# CPU benchmarks run (cpu_bench.sh, serve_bench.sh), in one weight type;
# prints its path. Made once and cached in bench/out/ (git-ignored).
#
#   bench/speed_model.sh TYPE [--build DIR] [--threads N]
#
# rf_gen_model --f16 writes the F16 model (n_embd 2048, 16 layers, 32 heads,
# 8 KV heads, head_dim 64, FFN 8192, the llama-bpe vocab of 128256 tokens,
# tied embeddings, the llama3 rope scaling of the real model); llama.cpp's
# quantizer (`llama_eval quantize`) makes TYPE of it (f16: the file itself).
# --build: a build of this repository with rf_gen_model and llama_eval
# (built there, Release, when missing; default build-perf/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TYPE=${1:?usage: bench/speed_model.sh TYPE [--build DIR] [--threads N]}
shift
BUILD=$ROOT/build-perf
THREADS=$(nproc)
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "usage: bench/speed_model.sh TYPE [--build DIR] [--threads N]" >&2; exit 1 ;;
    esac
done
REF=$("$ROOT/scripts/fetch-reference.sh")
VOCAB=$REF/llama.cpp/models/ggml-vocab-llama-bpe.gguf
OUT=$ROOT/bench/out
mkdir -p "$OUT"
if [ ! -x "$BUILD/tests/llama_eval" ] || [ ! -x "$BUILD/tests/rf_gen_model" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target llama_eval rf_gen_model >/dev/null
fi
BASE=$OUT/llama-1b-shape-f16.gguf
if [ ! -f "$BASE" ]; then
    echo "speed_model: generating $BASE" >&2
    "$BUILD/tests/rf_gen_model" --arch llama --vocab "$VOCAB" --n-embd 2048 --n-layer 16 --n-head 32 \
        --n-head-kv 8 --head-dim 64 --n-ff 8192 --ctx 131072 --rope-base 500000 \
        --llama3-rope 32,1,4,8192 --tied --f16 --seed 1 -o "$BASE.tmp"
    mv "$BASE.tmp" "$BASE"
fi
q=$OUT/llama-1b-shape-$TYPE.gguf
if [ ! -f "$q" ]; then
    echo "speed_model: quantizing $q" >&2
    "$BUILD/tests/llama_eval" quantize "$BASE" "$q.tmp" "$TYPE" --threads "$THREADS" >"$OUT/quantize-$TYPE.log"
    mv "$q.tmp" "$q"
fi
echo "$q"
