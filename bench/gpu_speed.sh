#!/usr/bin/env bash
# gpu_speed.sh: ROCmForge's GPU decode and prefill against llama.cpp's CUDA
# backend, side by side on the same GGUF files in one run.
#
#   bench/gpu_speed.sh --bin DIR --llama-bin DIR [--work DIR] [--out DIR]
#                      [--vocab-bpe F] [--models "1b-q4_k_m 8b-q4_k_m ..."]
#                      [--depths "0 16384"] [--reps N] [--tool-reps N] [--gen-only]
#                      [--row-pool N]
#
# Models (random weights, the llama-bpe vocabulary of 128256 tokens, made
# here by rf_gen_model --type, cached in --work): 1b is Llama-3.2-1B's shape
# (n_embd 2048, 16 layers, 32/8 heads of 64, FFN 8192, tied), 8b Llama-3-8B's
# (4096, 32 layers, 32/8 heads of 128, FFN 14336); with experts, moe30b is
# Qwen3-30B-A3B's (qwen3moe: 2048, 48 layers, 32/4 heads of 128, 128
# experts of 768, 8 a token) and oss20b gpt-oss-20b's (2880, 24 layers,
# 64/8 heads of 64, 32 experts of 2880, 4 a token, a 128-token window every
# other layer; its rows of 2880 suit mxfp4 and the 32-element types). A
# model name is SHAPE-TYPE with a type rf_gen_model knows (q4_k_m, q8_0,
# q4_0, mxfp4, ...): moe30b-q4_k_m, oss20b-mxfp4. --row-pool N makes each
# layer matrix from N distinct rows (rf_gen_model --row-pool: the same bytes
# to read, written in a minute instead of a quarter hour for moe30b); a
# model made so is for timing only, not for conformance.
#
# For each model, alternating, --reps rounds: `llama-bench -p 512 -n 128
# -fa 1 -ngl 99 -r R` and `rocmforge bench -p 512 -n 128 --reps R --backend
# gpu --kv-f16` (R: --tool-reps, 3; both KV caches f16, llama.cpp's
# default); at a depth D > 0 llama-bench takes -d D and ours --depth D. Each tool's figure is its mean over the R repetitions (llama-
# bench's avg_ts; ours decode_tok_s_mean), the best round of those. The
# device-to-device copy bandwidth is measured once (PyTorch, bytes read +
# written) to put the decode figures against. Writes speed.jsonl and speed.md
# to --out.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN= LLAMA_BIN= WORK=/tmp/rf-gpu-bench OUT=$ROOT/bench/out/gpu
VOCAB_BPE=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-bpe.gguf
MODELS="1b-q4_k_m 8b-q4_k_m 8b-q8_0 8b-q4_0"
DEPTHS="0"
REPS=1
TOOL_REPS=3
GEN_ONLY=0
ROW_POOL=0
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --llama-bin) LLAMA_BIN=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --vocab-bpe) VOCAB_BPE=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --depths) DEPTHS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --tool-reps) TOOL_REPS=$2; shift 2 ;;
    --gen-only) GEN_ONLY=1; shift ;;
    --row-pool) ROW_POOL=$2; shift 2 ;;
    *) echo "gpu_speed: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$BIN" ] || { echo "gpu_speed: --bin DIR (rocmforge, rf_gen_model) is required" >&2; exit 2; }
mkdir -p "$WORK" "$OUT"
RF=$BIN/rocmforge
GEN=$BIN/rf_gen_model
[ -x "$GEN" ] || GEN=$BIN/tests/rf_gen_model
LOG=$OUT/speed-log.txt
log() { echo "$*" | tee -a "$LOG"; }

model_file() { echo "$WORK/llama-$1.gguf"; }
for m in $MODELS; do
    f=$(model_file "$m")
    [ -s "$f" ] && continue
    shape=${m%%-*} type=${m#*-}
    arch=llama
    case $shape in
    1b) dims="--n-embd 2048 --n-layer 16 --n-head 32 --n-head-kv 8 --head-dim 64 --n-ff 8192 --tied" ;;
    8b) dims="--n-embd 4096 --n-layer 32 --n-head 32 --n-head-kv 8 --head-dim 128 --n-ff 14336 --untied" ;;
    moe30b) arch=qwen3moe dims="--n-embd 2048 --n-layer 48 --n-head 32 --n-head-kv 4 --head-dim 128 --n-ff 6144
            --experts 128,8 --n-ff-exp 768 --untied" ;;
    oss20b) arch=gpt-oss dims="--n-embd 2880 --n-layer 24 --n-head 64 --n-head-kv 8 --head-dim 64 --n-ff 2880
            --experts 32,4 --n-ff-exp 2880 --swa 128 --untied" ;;
    *) echo "gpu_speed: unknown shape in $m" >&2; exit 2 ;;
    esac
    t0=$(date +%s)
    "$GEN" --arch $arch --vocab "$VOCAB_BPE" $dims --ctx 32768 --rope-base 500000 --seed 1 --type "$type" \
        -t "$(nproc)" $([ "$ROW_POOL" -gt 0 ] && echo --row-pool "$ROW_POOL") -o "$f.part" >>"$LOG" 2>&1 && mv "$f.part" "$f" || { log "generating $m failed"; exit 1; }
    log "$m: generated $(du -h "$f" | cut -f1) in $(($(date +%s) - t0)) s (row pool $ROW_POOL)"
done
[ $GEN_ONLY = 1 ] && exit 0
[ -n "$LLAMA_BIN" ] || { echo "gpu_speed: --llama-bin DIR (llama-bench) is required" >&2; exit 2; }

DEVICE=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
COPY_GBS=$(python3 - <<'EOF' 2>/dev/null
import torch
n = 2 << 30
a = torch.empty(n, dtype=torch.uint8, device="cuda"); b = torch.empty_like(a)
for _ in range(3): b.copy_(a)
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
ts = []
for _ in range(10):
    s.record(); b.copy_(a); e.record(); e.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
print("%.0f" % (2 * n / ts[len(ts) // 2] / 1e9))
EOF
)
log "device: $DEVICE; copy bandwidth ${COPY_GBS:-?} GB/s (read + write)"

SPEED=$OUT/speed.jsonl
: >"$SPEED"
for round in $(seq "$REPS"); do
    for m in $MODELS; do
        f=$(model_file "$m")
        for d in $DEPTHS; do
            dl=""
            [ "$d" != 0 ] && dl="--depth $d"
            j=$("$RF" bench "$f" --backend gpu -p 512 -n 128 --reps "$TOOL_REPS" --ctx $((d + 1024)) $dl --kv-f16 --json 2>>"$LOG")
            echo "{\"model\":\"$m\",\"depth\":$d,\"round\":$round,\"tool\":\"rocmforge\",\"r\":${j:-null}}" >>"$SPEED"
            j=$("$LLAMA_BIN/llama-bench" -m "$f" -p 512 -n 128 -fa 1 -ngl 99 -r "$TOOL_REPS" -d "$d" -o json 2>>"$LOG" | tr -d '\n')
            echo "{\"model\":\"$m\",\"depth\":$d,\"round\":$round,\"tool\":\"llama.cpp\",\"r\":${j:-null}}" >>"$SPEED"
            tail -2 "$SPEED" | cut -c1-200 >>"$LOG"
        done
    done
done

python3 - "$OUT" "$DEVICE" "${COPY_GBS:-0}" "$WORK" <<'EOF'
import json, os, sys
out, device, copy_gbs, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(os.path.join(out, "speed.jsonl")):
    d = json.loads(line)
    key = (d["model"], d["depth"])
    r = rows.setdefault(key, {"rf_pp": [], "rf_tg": [], "ll_pp": [], "ll_tg": []})
    if not d["r"]:
        continue
    if d["tool"] == "rocmforge":
        r["rf_pp"].append(d["r"]["prefill_tok_s_mean"]); r["rf_tg"].append(d["r"]["decode_tok_s_mean"])
    else:
        for t in d["r"]:
            (r["ll_pp"] if t["n_prompt"] else r["ll_tg"]).append(t["avg_ts"])
best = lambda v: max(v) if v else float("nan")
md = ["Device: %s; device-to-device copy %.0f GB/s (bytes read + written)" % (device, copy_gbs), "",
      "| model | depth | llama.cpp pp512 | ours pp512 | ratio | llama.cpp tg128 | ours tg128 | ratio | ours: weights GB/s (% of copy) |",
      "|---|---|---|---|---|---|---|---|---|"]
for (m, dep), r in rows.items():
    size = os.path.getsize(os.path.join(work, "llama-%s.gguf" % m)) / 1e9
    rf_tg, ll_tg, rf_pp, ll_pp = best(r["rf_tg"]), best(r["ll_tg"]), best(r["rf_pp"]), best(r["ll_pp"])
    bw = size * rf_tg
    # with experts a token reads only its experts' rows: the file's bytes say nothing
    bws = "n/a (experts)" if m.startswith(("moe", "oss")) else "%.0f (%.0f%%)" % (bw, 100 * bw / copy_gbs if copy_gbs else 0)
    md.append("| %s | %d | %.1f | %.1f | %.2f× | %.1f | %.1f | %.2f× | %s |" % (
        m, dep, ll_pp, rf_pp, rf_pp / ll_pp, ll_tg, rf_tg, rf_tg / ll_tg, bws))
md += ["", "Best of the rounds; each figure is the tool's own mean over its repetitions (llama-bench avg_ts, rocmforge "
       "decode_tok_s_mean / prefill_tok_s_mean). GB/s: the file's bytes times our decode rate (every weight is read "
       "once a token; at a depth the KV cache adds to it)."]
open(os.path.join(out, "speed.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
