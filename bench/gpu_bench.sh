#!/usr/bin/env bash
# gpu_bench.sh: the GPU backend on the machine's GPU, checked against our
# CPU backend and timed, in one run; writes bench/out/gpu/results.md.
#
#   bench/gpu_bench.sh [--bin DIR] [--out DIR] [--work DIR] [--quick] [--types "f32 q8_0 ..."] [--unverified]
#                      [--vocab-spm F] [--vocab-bpe F] [--kjv-q4 F]
#                      [--llama-src DIR | --llama-bin DIR] [--no-speed]
#                      [--speed-models "1b-q4_k_m 8b-q4_k_m ..."] [--depth-models "..."] [--no-split]
#
# 1. Build: unless --bin names a directory holding rocmforge, rf_gen_model,
#    rf_compare and rf_gpu_smoke, configure and build build-gpu/ (Release);
#    CMake turns the CUDA side on when it finds cuda.h and nvrtc.h, the HIP
#    side when it finds hip/hiprtc.h. The GPU libraries are loaded at run time.
# 2. rf_gpu_smoke: the device layer and the compiler, a vector add.
# 3. Conformance, the models of tests/test_model_conformance.c made by
#    rf_gen_model on this machine (19 archs × 16 weight types + the q4_k_m and
#    q5_k_m mixes, n_embd 256, 2 layers, the llama-spm vocabulary) and the
#    trained model (models/kjv-tiny-llama-q8_0.gguf and its Q4_K_M, made by
#    llama.cpp's quantizer where the fixtures are prepared): rf_compare, GPU
#    against CPU, with the suite's bounds (random weights: cosine min 0.995,
#    mean 0.999, top-1 80%; trained: KL, top-1, identical greedy
#    continuations). Plus `rocmforge run --temp 0` on both backends (the GPU
#    picks on the device): the same ids. The random-weight models run half
#    the cores' count at once (the kernel compiler is CPU-bound), so the
#    quick set takes about a minute. --unverified runs them again with
#    ROCMFORGE_UNVERIFIED=1 (the kernels not yet run on a GPU, docs/gpu.md)
#    and times the speed models that way too.
# 4. Speed, side by side with llama.cpp (bench/gpu_speed.sh): the
#    --speed-models (Llama-3.2-1B- and Llama-3-8B-shaped, random weights, the
#    llama-bpe vocabulary, generated here while the conformance runs) with
#    llama-bench -fa 1 and rocmforge bench, alternating, -p 512 -n 128, at
#    depth 0, and the --depth-models (none with "") at depth 16384 too; then
#    a per-kernel profile of a decode step of the first of those (an 8B by
#    default; ROCMFORGE_PROFILE). llama.cpp comes from
#    --llama-bin (llama-bench there) or is built from --llama-src (the
#    trimmed source of bench/llama-src.sh, a directory or its .tar.xz) by
#    bench/llama-build.sh in the background from the start (about 4-6
#    minutes). Without either, or with --no-speed, no speed section.
# 5. A model larger than the GPU (bench/gpu_split.sh, unless --no-split): the
#    8B-shaped Q4_K_M with --gpu-mem-limit 2/3 of its size and --gpu-layers
#    auto, against the CPU (rf_compare) and timed.
# Results and logs go to --out (default bench/out/gpu); results.md names the
# device. --quick runs 8 of the 18 conformance types only, --types the ones
# named.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=
OUT=$ROOT/bench/out/gpu
WORK=/tmp/rf-gpu-bench
QUICK=0
UNVERIFIED=0
VOCAB_SPM=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-spm.gguf
VOCAB_BPE=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf
KJV_Q8=$ROOT/models/kjv-tiny-llama-q8_0.gguf
KJV_Q4=
LLAMA_SRC= LLAMA_BIN= SPEED=1 TYPES_ARG= SPLIT=1
SPEED_MODELS="1b-q4_k_m 8b-q4_k_m 8b-q8_0 8b-q4_0"
DEPTH_MODELS="8b-q4_k_m"
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --types) TYPES_ARG=$2; shift 2 ;;
    --unverified) UNVERIFIED=1; shift ;;
    --vocab-spm) VOCAB_SPM=$2; shift 2 ;;
    --vocab-bpe) VOCAB_BPE=$2; shift 2 ;;
    --kjv-q4) KJV_Q4=$2; shift 2 ;;
    --llama-src) LLAMA_SRC=$2; shift 2 ;;
    --llama-bin) LLAMA_BIN=$2; shift 2 ;;
    --no-speed) SPEED=0; shift ;;
    --no-split) SPLIT=0; shift ;;
    --speed-models) SPEED_MODELS=$2; shift 2 ;;
    --depth-models) DEPTH_MODELS=$2; shift 2 ;;
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

# llama.cpp for the side-by-side speed section: built in the background
# while the conformance runs
[ -n "$LLAMA_SRC$LLAMA_BIN" ] || SPEED=0
LLAMA_PID=
if [ $SPEED = 1 ] && [ -z "$LLAMA_BIN" ]; then
    src=$LLAMA_SRC
    if [ -f "$src" ]; then
        mkdir -p "$WORK/llama" && tar xJf "$src" -C "$WORK/llama" && src=$(ls -d "$WORK"/llama/*/ | head -1)
    fi
    LLAMA_BIN=$WORK/llama-build/bin
    "$ROOT/bench/llama-build.sh" "$src" "$WORK/llama-build" 90 >"$OUT/llama-build.log" 2>&1 &
    LLAMA_PID=$!
    log "== llama.cpp: building $src in the background (log: $OUT/llama-build.log)"
fi
GEN_PID=
if [ $SPEED = 1 ]; then
    "$ROOT/bench/gpu_speed.sh" --bin "$BIN" --gen-only --vocab-bpe "$VOCAB_BPE" --work "$WORK" --out "$OUT" \
        --models "$SPEED_MODELS" >"$OUT/speed-gen.log" 2>&1 &
    GEN_PID=$!
fi

log "== device"
DEVICE=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo unknown)
log "$DEVICE"
"$BIN/rf_gpu_smoke" 2>&1 | tee -a "$LOG"

# ---- conformance -----------------------------------------------------------
ARCHS=(llama qwen2 qwen3 phi3 gemma2 gemma3 granite smollm3 olmo2 glm4 exaone starcoder2 cohere2 qwen3moe qwen2moe
       mixtral olmoe granitemoe gpt-oss)
declare -A EXTRA=(
    [llama]="--untied --llama3-rope 8,1,4,64" [qwen2]="--tied" [qwen3]="--untied --head-dim 128"
    [phi3]="--untied" [gemma2]="--swa 8" [gemma3]="--swa 8 --swa-pattern 2 --rope-base 1000000 --rope-base-swa 10000"
    [granite]="--untied" [smollm3]="--untied --n-layer 4" [olmo2]="--untied" [glm4]="--untied"
    [exaone]="--tied --llama3-rope 8,1,4,64" [starcoder2]="--tied" [cohere2]="--tied --n-layer 4 --swa 8"
    [qwen3moe]="--untied --experts 8,2 --n-ff-exp 256" [qwen2moe]="--untied --experts 8,2 --n-ff-exp 256"
    [mixtral]="--untied --experts 4,2" [gpt-oss]="--untied --experts 8,2 --n-ff-exp 256 --swa 8"
    [olmoe]="--untied --n-head-kv 4 --experts 8,2" [granitemoe]="--untied --experts 8,2 --n-ff-shexp 512")
# mixtral is llama with experts; the MoE archs allow a router near-tie (a row down to 0.9 and the mean to 0.998; the CPU suite allows one such row)
declare -A GEN_ARCH=([mixtral]=llama)
MOE_BOUNDS="--min-cos 0.9 --mean-cos 0.998"
declare -A BOUNDS=([qwen3moe]=$MOE_BOUNDS [qwen2moe]=$MOE_BOUNDS [mixtral]=$MOE_BOUNDS [gpt-oss]=$MOE_BOUNDS
    [olmoe]=$MOE_BOUNDS [granitemoe]=$MOE_BOUNDS)
TYPES=(f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs mxfp4 q4_k_m q5_k_m)
if [ $QUICK = 1 ]; then TYPES=(f32 f16 q4_0 q8_0 q4_k q6_k iq4_xs q4_k_m); fi
if [ -n "$TYPES_ARG" ]; then read -ra TYPES <<<"$TYPES_ARG"; fi
# 160 ids: the whole sequence is one step of more rows than CG_MMQ_MIN_T
# (the products on the matrix units), its first half's greedy prompt one of
# fewer (the eight-row products)
TOKENS=$(python3 -c 'import random; r=random.Random(7); print(" ".join(str(r.randrange(3,32000)) for _ in range(160)))')
# one job a line: arch, type, seed, the generator's arch, its extra options, the bounds
JOBS=$WORK/conformance-jobs.tsv
: >"$JOBS"
for k in "${!ARCHS[@]}"; do
    a=${ARCHS[$k]}
    for t in "${TYPES[@]}"; do
        printf "%s\t%s\t%d\t%s\t%s\t%s\n" "$a" "$t" $((k + 1)) "${GEN_ARCH[$a]:-$a}" "${EXTRA[$a]}" "${BOUNDS[$a]:-}" >>"$JOBS"
    done
done
# conf_job LINE: make the model (once), compare GPU and CPU, print the table row
conf_job() {
    local a t seed ga extra bounds
    IFS=$'\t' read -r a t seed ga extra bounds <<<"$1"
    local m=$WORK/$a-$t.gguf j rc
    [ -s "$m" ] || { "$GEN" --arch "$ga" --vocab "$VOCAB_SPM" --n-embd 256 --n-layer 2 --n-head 4 --n-head-kv 2 \
        --n-ff 512 --ctx 4096 --seed "$seed" $extra --type "$t" -t 2 -o "$m.$$" >"$m.log" 2>&1 && mv -f "$m.$$" "$m"; }
    j=$("$CMP" "$m" --backend gpu --tokens "$TOKENS" --ctx 256 --gen 16 --prompts 2 --bounds random $bounds \
        --json 2>>"$m.log")
    rc=$?
    echo "$a $t ${ROCMFORGE_UNVERIFIED:+(unverified) }$j" >>"$m.log"
    python3 - "$j" "$rc" "$a" "$t" <<'EOF'
import json, sys
j, rc, a, t = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    d = json.loads(j)
    print("%s\t%s\t%.6f\t%.6f\t%.3f\t%s\t%s" % (a, t, d["min_cos"], d["mean_cos"], d["top1"],
          "%d/%d" % (d["greedy_same"], len(d["greedy"])), "ok" if rc == 0 and d["ok"] else "FAIL"))
except Exception as e:
    print("%s\t%s\t-\t-\t-\t-\tFAIL (rc %d: %s)" % (a, t, rc, str(e)[:60]))
EOF
}
export -f conf_job
export GEN CMP VOCAB_SPM WORK TOKENS JOBS
# conformance TSV [ENV=1]: every job, JOBS_PARALLEL at once (the compiler is
# CPU-bound, the models are small), rows in the jobs' order; sets n_ok and n_fail
conformance() {
    local tsv=$1 rows=$WORK/rows.$$
    printf "arch\ttype\tmin_cos\tmean_cos\ttop1\tgreedy\tresult\n" >"$tsv"
    seq 1 "$(wc -l <"$JOBS")" | env ${2:-} xargs -P "$JOBS_PARALLEL" -I{} \
        bash -c 'printf "%s\t%s\n" {} "$(conf_job "$(sed -n {}p "$JOBS")")"' >"$rows"
    sort -n "$rows" | cut -f2- >>"$tsv"
    rm -f "$rows"
    n_ok=$(tail -n +2 "$tsv" | grep -c $'\tok$')
    n_fail=$(( $(tail -n +2 "$tsv" | wc -l) - n_ok ))
    tail -n +2 "$tsv" | grep -v $'\tok$' | sed 's/^/FAIL: /' | tee -a "$LOG"
    cat "$WORK"/*.gguf.log >>"$LOG" 2>/dev/null
    rm -f "$WORK"/*.gguf.log
}
JOBS_PARALLEL=$(( NCPU / 2 > 1 ? NCPU / 2 : 1 ))
CONF=$OUT/conformance.tsv
log "== conformance: GPU against CPU, ${#ARCHS[@]} archs x ${#TYPES[@]} types, $JOBS_PARALLEL at once"
conformance "$CONF"
log "conformance: $n_ok passed, $n_fail failed"
if [ $UNVERIFIED = 1 ]; then
    n_ok0=$n_ok n_fail0=$n_fail
    log "== conformance with ROCMFORGE_UNVERIFIED=1 (the kernels not yet run on a GPU, docs/gpu.md)"
    conformance "$OUT/conformance-unverified.tsv" ROCMFORGE_UNVERIFIED=1
    log "conformance (unverified): $n_ok passed, $n_fail failed"
    u_ok=$n_ok u_fail=$n_fail n_ok=$n_ok0 n_fail=$n_fail0
fi

log "== batched: 4 sequences stepped together on the GPU against each alone on the CPU (rf_compare --seqs)"
# the archs whose attention differs (window, softcap, sinks, GQA, norms) and
# the MoE ones, f32 and f16 caches; the models the conformance made (or made here)
BATCHED=$OUT/batched.tsv
printf "arch\ttype\tcache\tmin_cos\tmean_cos\ttop1\tresult\n" >"$BATCHED"
b_ok=0 b_fail=0
for at in "llama q4_k_m" "gemma2 q4_k_m" "gemma3 q8_0" "qwen3 q8_0" "cohere2 q4_k_m" "qwen3moe q4_k_m" "gpt-oss mxfp4"; do
    read -r a t <<<"$at"
    k=0
    for i in "${!ARCHS[@]}"; do [ "${ARCHS[$i]}" = "$a" ] && k=$i; done
    m=$WORK/$a-$t.gguf
    [ -s "$m" ] || "$GEN" --arch "${GEN_ARCH[$a]:-$a}" --vocab "$VOCAB_SPM" --n-embd 256 --n-layer 2 --n-head 4 \
        --n-head-kv 2 --n-ff 512 --ctx 4096 --seed $((k + 1)) ${EXTRA[$a]} --type "$t" -t 2 -o "$m" >/dev/null 2>&1
    for kv in "" --kv-f16; do
        j=$("$CMP" "$m" --backend gpu --random 24 --prompts 4 --prompt-len 12 --gen 12 --seqs 4 --bounds random \
            ${BOUNDS[$a]:-} $kv --json 2>>"$LOG")
        row=$(python3 -c 'import json,sys; b=json.loads(sys.argv[1])["batch"]; print("%.6f\t%.6f\t%.3f\t%s" % (b["min_cos"], b["mean_cos"], b["top1"], "ok" if b["ok"] else "FAIL"))' "$j" 2>/dev/null || echo "-\t-\t-\tFAIL")
        printf "%s\t%s\t%s\t%s\n" "$a" "$t" "${kv:-f32}" "$row" | tee -a "$BATCHED" >>"$LOG"
        case $row in *ok) b_ok=$((b_ok + 1)) ;; *) b_fail=$((b_fail + 1)) ;; esac
    done
done
log "batched: $b_ok passed, $b_fail failed"

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
if [ $SPEED = 1 ]; then
    log "== speed"
    wait $GEN_PID || { log "generating the speed models failed (see $OUT/speed-gen.log)"; exit 1; }
    if [ -n "$LLAMA_PID" ]; then
        wait $LLAMA_PID || { log "building llama.cpp failed (see $OUT/llama-build.log)"; exit 1; }
    fi
    "$ROOT/bench/gpu_speed.sh" --bin "$BIN" --llama-bin "$LLAMA_BIN" --work "$WORK" --out "$OUT" \
        --models "$SPEED_MODELS" --depths 0 2>&1 | tee -a "$LOG"
    cp "$OUT/speed.md" "$OUT/speed-d0.md"
    if [ -n "$DEPTH_MODELS" ]; then
        "$ROOT/bench/gpu_speed.sh" --bin "$BIN" --llama-bin "$LLAMA_BIN" --work "$WORK" --out "$OUT" \
            --models "$DEPTH_MODELS" --depths 16384 --tool-reps 1 2>&1 | tee -a "$LOG"
        cp "$OUT/speed.md" "$OUT/speed-d16384.md"
    fi
    if [ $UNVERIFIED = 1 ]; then
        log "== speed with ROCMFORGE_UNVERIFIED=1"
        ROCMFORGE_UNVERIFIED=1 "$ROOT/bench/gpu_speed.sh" --bin "$BIN" --llama-bin "$LLAMA_BIN" --work "$WORK" \
            --out "$OUT/unverified" --models "$SPEED_MODELS" --depths 0 2>&1 | tee -a "$LOG"
        cp "$OUT/unverified/speed.md" "$OUT/speed-unverified.md"
    fi
    m=$(echo $DEPTH_MODELS $SPEED_MODELS | cut -d' ' -f1)
    "$RF" bench "$WORK/llama-$m.gguf" --backend gpu -p 512 -n 128 --kv-f16 --profile 2>"$OUT/profile.txt" >/dev/null
fi

# ---- a model larger than the GPU --------------------------------------------------
s_fail=0
if [ $SPLIT = 1 ]; then
    log "== split by layers (bench/gpu_split.sh)"
    "$ROOT/bench/gpu_split.sh" --bin "$BIN" --work "$WORK" --out "$OUT" --vocab-bpe "$VOCAB_BPE" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || s_fail=1
fi

# ---- results.md -------------------------------------------------------------
python3 - "$OUT" "$DEVICE" "$n_ok" "$n_fail" "$t_ok" "$t_fail" "${u_ok:-}" "${u_fail:-}" "$b_ok" "$b_fail" <<'EOF'
import json, sys, os
out, device, n_ok, n_fail, t_ok, t_fail, u_ok, u_fail, b_ok, b_fail = sys.argv[1:11]
md = ["# GPU backend: results", "", "Device: %s" % device, ""]
def table(name, title):
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, name))]
    return ["## " + title, "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + \
        ["| " + " | ".join(r) + " |" for r in rows[1:]] + [""]
md += table("conformance.tsv", "Conformance: GPU against the CPU backend (%s passed, %s failed)" % (n_ok, n_fail))
if u_ok:
    md += table("conformance-unverified.tsv", "The same with ROCMFORGE_UNVERIFIED=1 (%s passed, %s failed)" % (u_ok, u_fail))
md += table("batched.tsv", "Batched: 4 sequences together on the GPU, each row against its sequence alone on the CPU (%s passed, %s failed)" % (b_ok, b_fail))
md += ["", "## Trained model (%s passed, %s failed)" % (t_ok, t_fail), "", "```", open(os.path.join(out, "trained.txt")).read().rstrip(), "```", ""]
for name, title in (("speed-d0.md", "Speed against llama.cpp, same files, same run (depth 0)"),
                    ("speed-unverified.md", "The same with ROCMFORGE_UNVERIFIED=1"),
                    ("speed-d16384.md", "Speed against llama.cpp at depth 16384"),
                    ("split.md", None),
                    ("profile.txt", "Where a decode step goes (ROCMFORGE_PROFILE, launch by launch)")):
    f = os.path.join(out, name)
    if os.path.exists(f):
        body = open(f).read().rstrip()
        md += (["## " + title, ""] if title else []) + (["```", body, "```"] if name.endswith(".txt") else [body]) + [""]
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
[ "$n_fail" = 0 ] && [ "$t_fail" = 0 ] && [ "$b_fail" = 0 ] && [ "$s_fail" = 0 ]
