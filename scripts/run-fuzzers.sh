#!/bin/sh
# run-fuzzers.sh BUILD_DIR: build the libFuzzer targets with clang
# (-DROCMFORGE_FUZZ=ON) in BUILD_DIR and run each for a bounded time over its
# seed corpus. Fails if any fuzzer finds a crash, leak, timeout or OOM; the
# reproducer is left in BUILD_DIR/fuzz-out/NAME/ (see the log beside it).
#
#   FUZZ_SECONDS   seconds per fuzzer run (default 60)
#   FUZZ_JOBS      build parallelism (default: nproc)
#   ROCMFORGE_REF_DIR / XDG_CACHE_HOME: where the llama.cpp vocab files are
#                  (scripts/fetch-reference.sh); a missing vocab fails the run
#
# New inputs the fuzzers find go to BUILD_DIR/fuzz-out/NAME/corpus, never
# into the committed seed corpus (tests/fuzz/corpus/).
set -eu

BUILD=${1:?usage: run-fuzzers.sh BUILD_DIR}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-$(nproc)}
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${ROCMFORGE_REF_DIR:-}" ]; then
  REF=$ROCMFORGE_REF_DIR
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  REF=$XDG_CACHE_HOME/rocmforge-ref
else
  REF=$HOME/.cache/rocmforge-ref
fi
VOCABS=$REF/llama.cpp/models

cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DROCMFORGE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzz_gguf fuzz_tokenizer fuzz_jinja gen_gguf_corpus

OUT=$BUILD/fuzz-out
mkdir -p "$OUT"
failed=""

# run NAME FUZZER SEED_DIR MAX_LEN [ENV=VALUE]
run() {
  name=$1 bin=$2 seeds=$3 max_len=$4
  shift 4
  dir=$OUT/$name
  mkdir -p "$dir/corpus"
  echo "run-fuzzers: $name: ${SECONDS_EACH}s over $seeds"
  # The first corpus directory receives new inputs; the seeds are read only.
  if (cd "$dir" && env "$@" ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "$seeds" >"$dir/log" 2>&1); then
    tail -n 12 "$dir/log" | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' || true
  else
    echo "run-fuzzers: $name FAILED (log: $dir/log)" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|deadly signal|timeout|out-of-memory' "$dir/log" | head -n 20 >&2 || true
    failed="$failed $name"
  fi
}

# GGUF reader: the committed seeds plus what the writer makes now.
seeds=$OUT/gguf-seeds
rm -rf "$seeds"
mkdir -p "$seeds"
cp "$SRC"/tests/fuzz/corpus/gguf/* "$seeds"/ 2>/dev/null || true
"$BUILD"/tests/fuzz/gen_gguf_corpus "$seeds"
run gguf "$BUILD/tests/fuzz/fuzz_gguf" "$seeds" 65536

# Tokenizer: once per vocabulary type.
for v in llama-spm gpt-2 llama-bpe bert-bge nomic-bert-moe; do
  vocab=$VOCABS/ggml-vocab-$v.gguf
  if [ ! -f "$vocab" ]; then
    echo "run-fuzzers: $vocab is missing (run scripts/fetch-reference.sh)" >&2
    failed="$failed tokenizer-$v"
    continue
  fi
  run "tokenizer-$v" "$BUILD/tests/fuzz/fuzz_tokenizer" "$SRC/tests/fuzz/corpus/tokenizer" 4096 \
    ROCMFORGE_FUZZ_VOCAB="$vocab"
done

# Jinja: the snippets and llama.cpp's chat templates as seeds.
seeds=$OUT/jinja-seeds
rm -rf "$seeds"
mkdir -p "$seeds"
cp "$VOCABS"/templates/*.jinja "$seeds"/ 2>/dev/null || true
cp "$SRC"/tests/fuzz/corpus/jinja/* "$seeds"/ 2>/dev/null || true
run jinja "$BUILD/tests/fuzz/fuzz_jinja" "$seeds" 65536

if [ -n "$failed" ]; then
  echo "run-fuzzers: failed:$failed" >&2
  exit 1
fi
echo "run-fuzzers: all fuzzers ran ${SECONDS_EACH}s without a crash"
