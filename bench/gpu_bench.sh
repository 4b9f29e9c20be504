#!/usr/bin/env bash
# gpu_bench.sh: the GPU backend on the machine's GPU, checked against our
# CPU backend and timed, in one run; writes bench/out/gpu/results.md.
#
#   bench/gpu_bench.sh [--bin DIR] [--out DIR] [--work DIR] [--quick]
#                      [--vocab-spm F] [--vocab-bpe F] [--kjv-q4 F]
#
# 1. Build: unless --bin names a directory holding rocmforge, rf_gen_model,
#    rf_compare and rf_gpu_smoke, configure and build build-gpu/ (Release);
#    CMake turns the CUDA side on when it finds cuda.h and nvrtc.h, the HIP
#    side when it finds hip/hiprtc.h. The GPU libraries are loaded at run time.
# 2. rf_gpu_smoke: the device layer and the compiler, a vector add.
# 3. Conformance, the models of tests/test_model_conformance.c made by
#    rf_gen_model on this machine (6 archs × 16 weight types + the q4_k_m and
#    q5_k_m mixes, n_embd 256, 2 layers, the llama-spm vocabulary) and the
#    trained model (models/kjv-tiny-llama-q8_0.gguf and its Q4_K_M, made by
#    llama.cpp's quantizer where the fixtures are prepared): rf_compare, GPU
#    against CPU, with the suite's bounds (random weights: cosine min 0.995,
#    mean 0.999, top-1 80%; trained: KL, top-1, identical greedy
#    continuations). Plus `rocmforge run --temp 0` on both backends (the GPU
#    picks on the device): the same ids.
# 4. Speed: Llama-3.2-1B- and Llama-3-8B-shaped Q4_K_M models (random
#    weights, the llama-bpe vocabulary of 128256 tokens) generated here;
#    `rocmforge bench --backend gpu -p 512 -n 128` with an empty kernel cache
#    (cold: the compile time) and again (warm: the start from the cache),
#    prefill and decode tok/s from the warm run.
# Results and logs go to --out (default bench/out/gpu); results.md names the
# device. --quick runs a few conformance models only (for debugging).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=
OUT=$ROOT/bench/out/gpu
WORK=/tmp/rf-gpu-bench
QUICK=0
VOCAB_SPM=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-spm.gguf
VOCAB_BPE=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf
KJV_Q8=$ROOT/models/kjv-tiny-llama-q8_0.gguf
KJV_Q4=
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --vocab-spm) VOCAB_SPM=$2; shift 2 ;;
    --vocab-bpe) VOCAB_BPE=$2; shift 2 ;;
    --kjv-q4) KJV_Q4=$2; shift 2 ;;
    *) echo "gpu_bench: unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT" "$WORK"
LOG=$OUT/log.txt
: >"$LOG"
log() { echo "$*" | tee -a "$LOG"; }
NCPU=$(nproc)

if [ -z "$BIN" ]; then
    BIN=$ROOT/build-gpu
    log "== build ($BIN)"
    cmake -S "$ROOT" -B "$BIN" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
        cmake --build "$BIN" -j"$NCPU" --target rocmforge rf_gen_model rf_compare rf_gpu_smoke >>"$LOG" 2>&1 ||
        { log "build failed (see $LOG)"; exit 1; }
    BIN_T=$BIN/tests
else
    BIN_T=$BIN
fi
RF=$BIN/rocmforge
GEN=$BIN_T/rf_gen_model
CMP=$BIN_T/rf_compare

log "== device"
DEVICE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo unknown)
log "$DEVICE"
"$BIN/rf_gpu_smoke" 2>&1 | tee -a "$LOG"

# ---- conformance -----------------------------------------------------------
ARCHS=(llama qwen2 qwen3 phi3 gemma2 gemma3)
declare -A EXTRA=(
    [llama]="--untied --llama3-rope 8,1,4,64" [qwen2]="--tied" [qwen3]="--untied --head-dim 128"
    [phi3]="--untied" [gemma2]="--swa 8" [gemma3]="--swa 8 --swa-pattern 2 --rope-base 1000000 --rope-base-swa 10000")
TYPES=(f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs mxfp4 q4_k_m q5_k_m)
if [ $QUICK = 1 ]; then TYPES=(f32 q8_0 q4_k q6_k q4_k_m); fi
TOKENS=$(python3 -c 'import random; r=random.Random(7); print(" ".join(str(r.randrange(3,32000)) for _ in range(32)))')
CONF=$OUT/conformance.tsv
printf "arch\ttype\tmin_cos\tmean_cos\ttop1\tgreedy\tresult\n" >"$CONF"
n_ok=0 n_fail=0
log "== conformance: GPU against CPU, ${#ARCHS[@]} archs x ${#TYPES[@]} types"
for k in "${!ARCHS[@]}"; do
    a=${ARCHS[$k]}
    for t in "${TYPES[@]}"; do
        m=$WORK/$a-$t.gguf
        [ -s "$m" ] || "$GEN" --arch "$a" --vocab "$VOCAB_SPM" --n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 \
            --n-ff 512 --ctx 4096 --seed $((k + 1)) ${EXTRA[$a]} --type "$t" -t "$NCPU" -o "$m" >>"$LOG" 2>&1
        j=$("$CMP" "$m" --backend gpu --tokens "$TOKENS" --ctx 256 --gen 16 --prompts 2 --bounds random --json 2>>"$LOG")
        rc=$?
        echo "$a $t $j" >>"$LOG"
        line=$(python3 - "$j" "$rc" "$a" "$t" <<'EOF'
import json, sys
j, rc, a, t = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    d = json.loads(j)
    print("%s\t%s\t%.6f\t%.6f\t%.3f\t%s\t%s" % (a, t, d["min_cos"], d["mean_cos"], d["top1"],
          "%d/%d" % (d["greedy_same"], len(d["greedy"])), "ok" if rc == 0 and d["ok"] else "FAIL"))
except Exception as e:
    print("%s\t%s\t-\t-\t-\t-\tFAIL (rc %d: %s)" % (a, t, rc, str(e)[:60]))
EOF
)
        echo "$line" >>"$CONF"
        case $line in *ok) n_ok=$((n_ok + 1)) ;; *) n_fail=$((n_fail + 1)); log "FAIL: $line" ;; esac
    done
done
log "conformance: $n_ok passed, $n_fail failed"

log "== trained model"
# the conformance suite's text: two verses and four prompts, BOS + our tokenizer's ids
VERSES="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters."
TRAINED=$OUT/trained.txt
: >"$TRAINED"
t_ok=0 t_fail=0
for m in "$KJV_Q8" ${KJV_Q4:+"$KJV_Q4"}; do
    echo "# $(basename "$m")" >>"$TRAINED"
    prompts=()
    for p in "In the beginning" "The king said" "And Jesus said unto them" "Once upon a time"; do
        prompts+=(--prompt "$("$RF" tokenize "$m" "$p")")
    done
    "$CMP" "$m" --backend gpu --tokens "$("$RF" tokenize "$m" "$VERSES")" "${prompts[@]}" --gen 32 \
        --bounds trained -q >>"$TRAINED" 2>&1
    rc=$?
    echo "rc $rc" >>"$TRAINED"
    [ $rc = 0 ] && t_ok=$((t_ok + 1)) || t_fail=$((t_fail + 1))
    for be in cpu gpu; do
        printf "run --temp 0 --backend %s: " "$be" >>"$TRAINED"
        "$RF" run "$m" -p "In the beginning" -n 32 --temp 0 --print-ids --backend $be 2>/dev/null | head -1 >>"$TRAINED"
    done
done
tee -a "$LOG" <"$TRAINED" >/dev/null

# ---- speed ---------------------------------------------------------------------
SPEED=$OUT/speed.jsonl
: >"$SPEED"
if [ $QUICK = 0 ]; then
    log "== speed"
    for shape in 1b 8b; do
        case $shape in
        1b) dims="--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --head-dim 64 --n-ff 8192 --tied" ;;
        8b) dims="--n-embd 4096 --n-layer 32 --n-head 32 --n-head-kv 8 --head-dim 128 --n-ff 14336 --untied" ;;
        esac
        m=$WORK/llama-$shape-q4_k_m.gguf
        t0=$(date +%s.%N)
        [ -s "$m" ] || "$GEN" --arch llama --vocab "$VOCAB_BPE" $dims --ctx 8192 --rope-base 500000 --seed 1 \
            --type q4_k_m -t "$NCPU" -o "$m" >>"$LOG" 2>&1
        log "$shape: generated $(du -h "$m" | cut -f1) in $(python3 -c "import time; print('%.1f s' % (time.time() - $t0))")"
        cache=$WORK/cache-$shape
        rm -rf "$cache"
        for run in cold warm; do
            j=$("$RF" bench "$m" --backend gpu --cache "$cache" -p 512 -n 128 --reps 3 --json 2>>"$LOG")
            echo "{\"shape\":\"$shape\",\"run\":\"$run\",\"bench\":$j}" | tee -a "$SPEED" "$LOG" >/dev/null
        done
        j=$("$RF" bench "$m" --backend cpu --threads "$NCPU" -p 64 -n 16 --reps 1 --json 2>>"$LOG")
        echo "{\"shape\":\"$shape\",\"run\":\"cpu\",\"bench\":$j}" | tee -a "$SPEED" "$LOG" >/dev/null
    done
fi

# ---- results.md -------------------------------------------------------------
python3 - "$OUT" "$DEVICE" "$n_ok" "$n_fail" "$t_ok" "$t_fail" <<'EOF'
import json, sys, os
out, device, n_ok, n_fail, t_ok, t_fail = sys.argv[1:7]
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "conformance.tsv"))]
md = ["# GPU backend: results", "", "Device: %s" % device, "",
      "## Conformance: GPU against the CPU backend (%s passed, %s failed)" % (n_ok, n_fail), "",
      "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
md += ["", "## Trained model (%s passed, %s failed)" % (t_ok, t_fail), "", "```", open(os.path.join(out, "trained.txt")).read().rstrip(), "```", ""]
sp = [json.loads(l) for l in open(os.path.join(out, "speed.jsonl")) if l.strip()]
if sp:
    md += ["## Speed (Q4_K_M, random weights, -p 512 -n 128, best of 3)", "",
           "| shape | run | start s | kernels compiled/cached | compile s | prefill tok/s | decode tok/s |",
           "|---|---|---|---|---|---|---|"]
    for s in sp:
        b = s["bench"]
        md.append("| %s | %s | %.2f | %s | %s | %.1f | %.1f |" % (
            s["shape"], s["run"] + ("" if s["run"] != "cpu" else " (%d threads, -p 64 -n 16)" % b.get("threads", 0)),
            b.get("open_s", 0), "%s/%s" % (b.get("kernels_compiled", "-"), b.get("kernels_cached", "-")),
            "%.2f" % b["compile_s"] if "compile_s" in b else "-", b["prefill_tok_s"], b["decode_tok_s"]))
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
[ "$n_fail" = 0 ] && [ "$t_fail" = 0 ]
