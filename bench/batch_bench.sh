#!/usr/bin/env bash
# batch_bench.sh: batched decode, `rocmforge bench --batch B` against
# llama.cpp's `llama-batched-bench`, side by side in one run on the same
# GGUF file, and bench/results-batch.md.
#
#   bench/batch_bench.sh [--model GGUF|TYPE] [--backend cpu|gpu] [--threads N]
#       [--batch "1 8 32"] [--npp P] [--ntg N] [--reps R] [--build DIR]
#       [--llama-bin DIR] [--results FILE] [--device TEXT]
#
# --model: a GGUF file, or a weight type for the 1B-shaped model of
# bench/speed_model.sh (default q4_k_m). For each B and each of R rounds,
# llama-batched-bench -npp P -ntg N -npl B (its jsonl line) and then
# rocmforge bench -p P -n N --batch B --json, alternating. Both: B
# sequences with prompts of P random ids read together (llama.cpp: in
# batches of n_batch; ours: steps of B + ubatch rows), then N steps of one
# token for each of the B; prefill rate = B*P tokens over its time, decode
# rate = B*N over its time. A KV cache of f16 on both (llama.cpp's default,
# our --kv-f16), shared by the sequences (-kvu), the same threads;
# llama.cpp's flash attention as it defaults. Figures: medians of R.
# llama-batched-bench is built as in serve_bench.sh (bench/llama-build.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=q4_k_m
BACKEND=cpu
THREADS=$(nproc)
BATCH="1 8 32"
NPP=128
NTG=32
REPS=3
BUILD=$ROOT/build-perf
LLAMA_BIN=
RESULTS=$ROOT/bench/results-batch.md
DEVICE=
usage="usage: $0 [--model GGUF|TYPE] [--backend cpu|gpu] [--threads N] [--batch \"1 8 32\"] [--npp P] [--ntg N]
       [--reps R] [--build DIR] [--llama-bin DIR] [--results FILE] [--device TEXT]"
while [ $# -gt 0 ]; do
    case $1 in
    --model) MODEL=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --npp) NPP=$2; shift 2 ;;
    --ntg) NTG=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --llama-bin) LLAMA_BIN=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 1 ;;
    esac
done
. "$ROOT/bench/lib.sh"
MODEL=$(bench_model "$MODEL")
[ -f "$MODEL" ] || { echo "batch_bench: no model $MODEL" >&2; exit 1; }
bench_rocmforge "$BUILD"
[ -n "$LLAMA_BIN" ] || LLAMA_BIN=$(bench_llama "$BACKEND" llama-batched-bench)
OUT=$ROOT/bench/out/batch
mkdir -p "$OUT"
: >"$OUT/runs.jsonl"
[ "$BACKEND" = gpu ] && NGL=999 || NGL=0
for b in $BATCH; do
    ctx=$((b * (NPP + NTG)))
    for r in $(seq "$REPS"); do
        "$LLAMA_BIN/llama-batched-bench" -m "$MODEL" -npp "$NPP" -ntg "$NTG" -npl "$b" -c "$ctx" -kvu \
            -t "$THREADS" -tb "$THREADS" -ngl "$NGL" --output-format jsonl 2>/dev/null | grep '^{' |
            python3 -c "import json,sys; j=json.loads(sys.stdin.readline()); print(json.dumps({'engine':'llama','B':$b,
'pp':j['speed_pp'],'tg':j['speed_tg']}))" | tee -a "$OUT/runs.jsonl" >&2
        "$BUILD/rocmforge" bench "$MODEL" -p "$NPP" -n "$NTG" --batch "$b" --backend "$BACKEND" -t "$THREADS" \
            --kv-f16 --json 2>/dev/null |
            python3 -c "import json,sys; j=json.load(sys.stdin); print(json.dumps({'engine':'rocmforge','B':$b,
'pp':j['prefill_tok_s'],'tg':j['decode_tok_s'],'backend':j['backend']}))" | tee -a "$OUT/runs.jsonl" >&2
    done
done
# ROCMFORGE_COMMIT: where the tree is a copy without its git history (the GPU machine)
commit=${ROCMFORGE_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && commit="$commit + uncommitted changes"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
python3 - "$OUT/runs.jsonl" "$RESULTS" <<EOF
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as o:
    o.write("""# Batched decode: rocmforge bench --batch vs llama-batched-bench

Written by \`bench/batch_bench.sh\` (do not edit by hand; rerun it).

- Device: ${DEVICE:-$cpu ($(nproc) cores), the ${BACKEND} backend}
- Model: \`$(basename "$MODEL")\`; B sequences, prompts of $NPP random ids read together, then $NTG steps of one
  token each; f16 KV cache shared by the sequences; $THREADS threads. Rates: tokens of all sequences a second,
  medians of $REPS alternating rounds.
- rocmforge $commit; llama-batched-bench built from the reference source by \`bench/llama-build.sh\`.

| B | llama.cpp prefill tok/s | ours | ratio | llama.cpp decode tok/s | ours | ratio |
|---|---|---|---|---|---|---|
""")
    for b in sorted({r["B"] for r in runs}):
        m = {e: {k: statistics.median([r[k] for r in runs if r["engine"] == e and r["B"] == b]) for k in ("pp", "tg")}
             for e in ("llama", "rocmforge")}
        o.write("| %d | %.1f | %.1f | %.2fx | %.2f | %.2f | %.2fx |\n" % (
            b, m["llama"]["pp"], m["rocmforge"]["pp"], m["rocmforge"]["pp"] / m["llama"]["pp"],
            m["llama"]["tg"], m["rocmforge"]["tg"], m["rocmforge"]["tg"] / m["llama"]["tg"]))
print(open(sys.argv[2]).read())
EOF
