#!/usr/bin/env bash
# gpu_knobs.sh: the decode products' time under each setting of the shape
# knobs (codegen.c: ROCMFORGE_TUNE_ROWS, _WAVES, _UNROLL, _OCC), kernel by
# kernel, to see what a product can reach and which shape gets there before
# a tuner chooses per kernel.
#
#   bench/gpu_knobs.sh --bin DIR [--work DIR] [--out DIR] [--vocab F]
#                      [--types "q4_k_m q8_0 q4_0"] [--layers N]
#                      [--variants "ROWS,WAVES,UNROLL,OCC ..."]
#
# Models: Llama-3-8B's layer shapes (n_embd 4096, FFN 14336, 32/8 heads of
# 128) with --layers layers (4) and the --vocab's vocabulary (the small
# llama-spm one by default, so the output product stays small), random
# weights by rf_gen_model. Each variant runs `rocmforge bench -p 16 -n 64
# --profile` (launch by launch, events around each launch); writes
# knobs.tsv (variant, kernel, us a call, % of copy) and prints a table of
# us a call, kernels down, variants across.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN= WORK=/tmp/rf-gpu-knobs OUT=$ROOT/bench/out/knobs LAYERS=4
VOCAB=$HOME/.cache/rocmforge-ref/llama.cpp/models/ggml-vocab-llama-spm.gguf
TYPES="q4_k_m q8_0 q4_0"
VARIANTS="1,4,8,0 1,4,4,0 1,4,2,0 1,4,4,32 1,8,4,32 2,4,8,0 2,4,4,0 2,4,2,32 2,8,4,0 2,4,4,16 4,4,2,0 4,2,4,16"
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --vocab) VOCAB=$2; shift 2 ;;
    --types) TYPES=$2; shift 2 ;;
    --layers) LAYERS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    *) echo "gpu_knobs: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$BIN" ] || { echo "gpu_knobs: --bin DIR (rocmforge, rf_gen_model) is required" >&2; exit 2; }
mkdir -p "$WORK" "$OUT"
RF=$BIN/rocmforge
GEN=$BIN/rf_gen_model
[ -x "$GEN" ] || GEN=$BIN/tests/rf_gen_model
TSV=$OUT/knobs.tsv
printf "type\tvariant\tkernel\tus\tcopy_pct\n" >"$TSV"
for t in $TYPES; do
    m=$WORK/8b-l$LAYERS-$t.gguf
    [ -s "$m" ] || "$GEN" --arch llama --vocab "$VOCAB" --n-embd 4096 --n-layer "$LAYERS" --n-head 32 --n-head-kv 8 \
        --n-ff 14336 --ctx 4096 --seed 1 --untied --type "$t" -t "$(nproc)" -o "$m" >"$OUT/gen-$t.log" 2>&1 ||
        { echo "gpu_knobs: generating $t failed (see $OUT/gen-$t.log)" >&2; exit 1; }
    for v in $VARIANTS; do
        IFS=, read -r rows waves unroll occ <<<"$v"
        ROCMFORGE_TUNE_ROWS=$rows ROCMFORGE_TUNE_WAVES=$waves ROCMFORGE_TUNE_UNROLL=$unroll ROCMFORGE_TUNE_OCC=$occ \
            "$RF" bench "$m" --backend gpu -p 16 -n 64 --profile >/dev/null 2>"$OUT/prof-$t-${v//,/-}.txt" ||
            { echo "gpu_knobs: $t $v failed (see $OUT/prof-$t-${v//,/-}.txt)" >&2; continue; }
        # the decode section's kernel lines: name, ms, %, calls, us/call, MB/call, GB/s, % copy
        awk -v t="$t" -v v="$v" '/^profile gpu decode/ {d = 1; next} /^profile gpu/ {d = 0}
            d && $1 ~ /^[a-z]/ && $1 != "kernel" {printf "%s\t%s\t%s\t%s\t%s\n", t, v, $1, $5, $8}' \
            "$OUT/prof-$t-${v//,/-}.txt" >>"$TSV"
    done
done
python3 - "$TSV" <<'EOF'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
by = collections.OrderedDict()
variants = []
for t, v, k, us, pct in rows:
    if v not in variants:
        variants.append(v)
    # kernels differ in their hash between variants: key them by what they compute
    key = (t, "_".join(k.split("_")[:-1]))
    by.setdefault(key, {})[v] = "%s/%s%%" % (us, pct.rstrip("%"))
print("us a call / % of copy bandwidth; variant = ROWS,WAVES,UNROLL,OCC")
print("| type | kernel | " + " | ".join(variants) + " |")
print("|---|---|" + "---|" * len(variants))
for (t, k), d in by.items():
    print("| %s | %s | %s |" % (t, k, " | ".join(d.get(v, "-") for v in variants)))
EOF
