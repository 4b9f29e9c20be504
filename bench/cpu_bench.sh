#!/usr/bin/env bash
# cpu_bench.sh: ROCmForge against llama.cpp on the CPU, side by side, on a
# Llama-3.2-1B-shaped model with random weights, and bench/results-cpu.md.
#
#   bench/cpu_bench.sh [--threads N] [--reps R] [--types "q4_k_m q8_0"]
#                      [--build DIR] [--out DIR] [--results FILE]
#                      [--baseline ROCMFORGE_BINARY]
#
# --baseline adds a third engine to each round, another build of rocmforge
# (e.g. of the last commit, before a change), with its own row: before and
# after measured in the same run, under the same load.
# Steps: build (Release) if the binaries are missing; the model of each type
# (bench/speed_model.sh: the F16 model from rf_gen_model --f16, n_embd 2048,
# 16 layers, 32 heads, 8 KV heads, head_dim 64, FFN 8192, the llama-bpe
# vocab of 128256 tokens, tied embeddings, the llama3 rope scaling of the
# real model, quantized by llama.cpp's `llama_eval quantize`); then for each type, R
# rounds of llama.cpp's `llama_eval bench` and our `rocmforge bench --json`
# alternately (so a load spike hits both), -p 64 -n 128. Generated files are
# cached in bench/out/ (git-ignored) and reused.
#
# Settings that make the two comparable: the same thread count; F32 KV cache
# on both (llama_eval's default; ours is F32 unless rt_options.kv_f16);
# flash attention off in llama.cpp (llama_eval's default; ours has none);
# one untimed warm-up pass on both; a prompt of random ids in one batch.
# Each engine's figure is the median of its R runs (the best is shown too).
# The machine may be shared: each run first waits for a quiet second.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
THREADS=2
REPS=3
TYPES="q4_k_m q8_0"
BUILD=$ROOT/build-perf
OUT=$ROOT/bench/out
RESULTS=$ROOT/bench/results-cpu.md
P=64
N=128
BASELINE=
while [ $# -gt 0 ]; do
    case $1 in
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --types) TYPES=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--reps R] [--types \"q4_k_m q8_0\"] [--build DIR] [--out DIR] [--results FILE] [--baseline BIN]" >&2; exit 1 ;;
    esac
done


if [ ! -x "$BUILD/rocmforge" ] || [ ! -x "$BUILD/tests/llama_eval" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target rocmforge llama_eval rf_gen_model >/dev/null
fi
RF=$BUILD/rocmforge
LE=$BUILD/tests/llama_eval
mkdir -p "$OUT"
declare -A MODEL
for t in $TYPES; do # bench/out/llama-1b-shape-$t.gguf
    MODEL[$t]=$("$ROOT/bench/speed_model.sh" "$t" --build "$BUILD" --threads "$THREADS")
done

json_field() { # FIELD < json
    sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { sort -g | tail -1; }

# Percent of all CPU time that was busy over one second (/proc/stat).
cpu_busy() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
# Other people's builds share the machine: before each run, wait (up to
# QUIET_WAIT seconds) for a second in which the CPUs were at most
# QUIET_BUSY percent busy; the busy figure is logged with each run.
QUIET_BUSY=${QUIET_BUSY:-15}
QUIET_WAIT=${QUIET_WAIT:-30}
wait_quiet() {
    local waited=0 busy
    busy=$(cpu_busy)
    while [ "$busy" -gt "$QUIET_BUSY" ] && [ $waited -lt "$QUIET_WAIT" ]; do
        sleep 2; waited=$((waited + 3)); busy=$(cpu_busy)
    done
    echo "$busy"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A ROW
for t in $TYPES; do
    q=${MODEL[$t]}
    : >"$OUT/runs-$t.txt"
    for r in $(seq "$REPS"); do
        echo "round $r load $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/runs-$t.txt"
        bl=$(wait_quiet)
        l=$("$LE" bench "$q" -p $P -n $N --threads "$THREADS")
        echo "llama.cpp $l busy-before $bl%" >>"$OUT/runs-$t.txt"
        bo=$(wait_quiet)
        o=$("$RF" bench "$q" -p $P -n $N --threads "$THREADS" --reps 1 --json)
        echo "rocmforge $o busy-before $bo%" >>"$OUT/runs-$t.txt"
        if [ -n "$BASELINE" ]; then
            bb=$(wait_quiet)
            b=$("$BASELINE" bench "$q" -p $P -n $N --threads "$THREADS" --reps 1 --json)
            echo "baseline $b busy-before $bb%" >>"$OUT/runs-$t.txt"
        fi
        echo "cpu_bench: $t round $r: llama.cpp $(echo "$l" | json_field prefill_tok_s)/$(echo "$l" | json_field decode_tok_s)," \
            "rocmforge $(echo "$o" | json_field prefill_tok_s)/$(echo "$o" | json_field decode_tok_s) tok/s (prefill/decode)" >&2
    done
    stat() { # ENGINE FIELD FN
        grep "^$1 " "$OUT/runs-$t.txt" | json_field "$2" | $3
    }
    lp=$(stat llama.cpp prefill_tok_s median); ld=$(stat llama.cpp decode_tok_s median)
    op=$(stat rocmforge prefill_tok_s median); od=$(stat rocmforge decode_tok_s median)
    lpb=$(stat llama.cpp prefill_tok_s best); ldb=$(stat llama.cpp decode_tok_s best)
    opb=$(stat rocmforge prefill_tok_s best); odb=$(stat rocmforge decode_tok_s best)
    row() { # LABEL OUR_PREFILL OUR_PREFILL_BEST OUR_DECODE OUR_DECODE_BEST
        awk -v t="$1" -v lp="$lp" -v ld="$ld" -v op="$2" -v od="$4" \
            -v lpb="$lpb" -v ldb="$ldb" -v opb="$3" -v odb="$5" 'BEGIN {
            printf "| %s | %.1f (%.1f) | %.1f (%.1f) | **%.2f×** | %.2f (%.2f) | %.2f (%.2f) | **%.2f×** |",
                t, lp, lpb, op, opb, op / lp, ld, ldb, od, odb, od / ld }'
    }
    ROW[$t]=$(row "$t" "$op" "$opb" "$od" "$odb")
    if [ -n "$BASELINE" ]; then
        ROW[$t]="${ROW[$t]}
$(row "$t, baseline" "$(stat baseline prefill_tok_s median)" "$(stat baseline prefill_tok_s best)" \
            "$(stat baseline decode_tok_s median)" "$(stat baseline decode_tok_s best)")"
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
CORES=$(nproc)
{
    echo "# CPU: ROCmForge vs llama.cpp"
    echo
    echo "Written by \`bench/cpu_bench.sh\`. Llama-3.2-1B-shaped model, random weights (rf_gen_model --f16,"
    echo "quantized by llama.cpp's \`llama_model_quantize\`), $THREADS threads, prefill of $P tokens then $N"
    echo "decode steps. Median of $REPS alternating runs per engine (best in brackets), tok/s."
    echo
    echo "| type | llama.cpp prefill | ours prefill | ratio | llama.cpp decode | ours decode | ratio |"
    echo "|---|---|---|---|---|---|---|"
    for t in $TYPES; do echo "${ROW[$t]}"; done
    echo
    echo "- machine: $CPU, $CORES cores ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $COMMIT$DIRTY"
    echo "- load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER; each run waited up to"
    echo "  ${QUIET_WAIT}s for the CPUs to be at most ${QUIET_BUSY}% busy (the busy % seen is in the raw runs)"
    echo "- settings: both F32 KV cache; llama.cpp flash attention off, n_batch = n_ubatch = $P; one"
    echo "  untimed warm-up pass each; targets: decode ≥ 0.9×, prefill ≥ 0.5× llama.cpp (Q4_K_M)"
    [ -z "$BASELINE" ] || echo "- baseline: $BASELINE (rows \"TYPE, baseline\"), run in the same rounds"
    echo "- raw runs: bench/out/runs-TYPE.txt"
} >"$RESULTS"
cat "$RESULTS"
