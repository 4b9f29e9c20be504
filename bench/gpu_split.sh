#!/usr/bin/env bash
# gpu_split.sh: a model larger than the GPU, split by layers (--gpu-layers
# auto), on the machine's GPU: checked against the CPU and timed.
#
#   bench/gpu_split.sh --bin DIR [--work DIR] [--out DIR] [--vocab-bpe F] [--model NAME] [--fraction F]
#                      [--ctx N]
#
# The model is gpu_speed.sh's NAME (default 8b-q4_k_m: Llama-3-8B's shape,
# random weights; made in --work when missing). The GPU is told it has
# F (default 2/3) of the file's size (--gpu-mem-limit: what "auto" counts
# on and what the GPU arenas may take), so "auto" puts about that share of
# the layers on the GPU and the rest on the CPU. Every session has a context
# of --ctx positions (default 4096): at the file's own (32768) the cache
# alone of a 1B's 16 layers is 1 GiB, and "auto" rightly puts no layer on a
# GPU of 2/3 of its 770 MiB (measured on an H100, 2026-12-06).
# 1. rf_compare, the split session against the CPU alone: every position's
#    logits of 64 random ids, greedy continuations of 2 prompts, and 2
#    sequences stepped together (rt_step, rt_decode_batch) against each
#    alone, with the random-weight bounds of gpu_bench.sh.
# 2. rocmforge bench -p 512 -n 64 --kv-f16: the split session, the whole
#    model on the GPU and on the CPU, prefill and decode tok/s.
# Writes split.md (and split-log.txt) to --out; exit status 1 when the
# comparison fails.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN= WORK=/tmp/rf-gpu-bench OUT=$ROOT/bench/out/gpu MODEL=8b-q4_k_m FRACTION=2/3 CTX=4096
VOCAB_BPE=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --vocab-bpe) VOCAB_BPE=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --fraction) FRACTION=$2; shift 2 ;;
    --ctx) CTX=$2; shift 2 ;;
    *) echo "gpu_split: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$BIN" ] || { echo "gpu_split: --bin DIR (rocmforge, tests/rf_compare) is required" >&2; exit 2; }
mkdir -p "$WORK" "$OUT"
RF=$BIN/rocmforge
CMP=$BIN/rf_compare
[ -x "$CMP" ] || CMP=$BIN/tests/rf_compare
LOG=$OUT/split-log.txt
: >"$LOG"
log() { echo "$*" | tee -a "$LOG"; }

"$ROOT/bench/gpu_speed.sh" --bin "$BIN" --gen-only --vocab-bpe "$VOCAB_BPE" --work "$WORK" --out "$OUT" \
    --models "$MODEL" >>"$LOG" 2>&1 || { log "gpu_split: generating $MODEL failed (see $LOG)"; exit 1; }
m=$WORK/llama-$MODEL.gguf
size=$(stat -c %s "$m")
limit=$((size * ${FRACTION%/*} / ${FRACTION#*/}))
SPLIT=(--gpu-layers auto --gpu-mem-limit "$limit")
log "== split: $MODEL ($((size >> 20)) MiB), the GPU limited to $FRACTION of it ($((limit >> 20)) MiB), --gpu-layers auto"

j=$("$CMP" "$m" --backend gpu "${SPLIT[@]}" --ctx "$CTX" --random 64 --prompts 2 --prompt-len 16 --gen 8 --seqs 2 \
    --bounds random --json 2>>"$LOG")
rc=$?
echo "$j" >>"$LOG"
chosen=$(grep -o 'gpu layers auto: [^(]*' "$LOG" | head -1)
check=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1]); b = d.get("batch") or {}
print("logits: min cos %.6f, mean cos %.6f, top-1 %.3f; greedy %d/%d the same; batched min cos %.6f, top-1 %.3f; %s"
      % (d["min_cos"], d["mean_cos"], d["top1"], d["greedy_same"], len(d["greedy"]), b.get("min_cos", 0),
         b.get("top1", 0), "ok" if d["ok"] and int(sys.argv[2]) == 0 else "FAIL"))' "$j" "$rc" 2>/dev/null ||
    echo "FAIL (rf_compare exit $rc, see $LOG)")
log "$chosen"
log "$check"

# bench LABEL ARGS...: one row of prefill and decode tok/s
rows=()
bench() {
    local label=$1 j
    shift
    j=$("$RF" bench "$m" -p 512 -n 64 --kv-f16 --ctx "$CTX" --json "$@" 2>>"$LOG") || { rows+=("| $label | failed | | |"); return; }
    rows+=("$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print("| %s | %s | %.1f | %.2f |" % (sys.argv[2], d["backend"], d["prefill_tok_s"], d["decode_tok_s"]))' "$j" "$label")")
}
bench "split (auto, $FRACTION of the model's size)" --backend gpu "${SPLIT[@]}"
bench "whole model on the GPU" --backend gpu
bench "whole model on the CPU" --backend cpu
{
    echo "## A model larger than the GPU: $MODEL, --gpu-layers auto under --gpu-mem-limit $limit ($FRACTION of its size)"
    echo
    echo "$chosen"
    echo
    echo "Against the CPU (rf_compare --bounds random): $check"
    echo
    echo "| session | backend | prefill tok/s (512) | decode tok/s |"
    echo "|---|---|---|---|"
    printf "%s\n" "${rows[@]}"
} >"$OUT/split.md"
cat "$OUT/split.md" | tee -a "$LOG"
case $check in *"; ok") exit 0 ;; *) exit 1 ;; esac
