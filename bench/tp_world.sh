#!/usr/bin/env bash
# tp_world.sh: tensor parallelism over N GPUs, a process each (--tp-world
# N) and a thread each in one process (--tp N), checked against the
# unsplit model and timed, in one run.
#
#   bench/tp_world.sh --bin DIR --model F.gguf [--world N] [--backend gpu|cpu] [--coll-lib PATH]
#                     [--llama-bin DIR] [--out DIR] [--threads N]
#
# --world: the processes (default: the GPUs nvidia-smi lists, or 2). The
# collective library: --coll-lib, else libnccl.so.2 where the loader finds
# it, else PyTorch's (python3 -c 'import nvidia.nccl'), else librccl; it is
# handed to rocmforge as ROCMFORGE_COLL_LIB. --backend cpu runs the ranks on
# the CPU through a library that sums host memory (tests/fake_coll.c, built
# as build/tests/librf_fake_coll.so: ROCMFORGE_COLL_HOST=1), which checks
# this script and the executor without GPUs.
# 1. Logits: `rocmforge logits` of 16 ids, the unsplit model on one device
#    against each of the N processes' (rank r on device r, modulo the
#    devices it sees) and against --tp N's (ROCMFORGE_TP_THREADS=1: a
#    thread a rank, also on the CPU): every row's cosine, the largest
#    difference, top-1. Bounds: cosine >= 0.999 every row (the products
#    over K are summed in another order); the processes and the threads
#    must agree with each other exactly.
# 2. Speed: `rocmforge bench -p 512 -n 128` unsplit, with --tp-world N
#    (rank 0's figures; every rank runs the same steps) and --tp N, and, with
#    --llama-bin, llama-bench -ngl 99 -fa 1 -sm layer and -sm row on the
#    same file and the same GPUs.
# Writes tp.md and tp-log.txt to --out (default bench/out/tp); exit status 1
# when a check fails. NVLink multicast stays off (NCCL_NVLS_ENABLE=0).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN= MODEL= WORLD= BACKEND=gpu COLL_LIB= LLAMA_BIN= OUT=$ROOT/bench/out/tp THREADS=
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --world) WORLD=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --coll-lib) COLL_LIB=$2; shift 2 ;;
    --llama-bin) LLAMA_BIN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) echo "tp_world: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$BIN" ] && [ -n "$MODEL" ] || { echo "tp_world: --bin DIR and --model F.gguf are required" >&2; exit 2; }
[ -r "$MODEL" ] || { echo "tp_world: $MODEL: cannot read it" >&2; exit 2; }
mkdir -p "$OUT"
RF=$BIN/rocmforge
LOG=$OUT/tp-log.txt
: >"$LOG"
log() { echo "$*" | tee -a "$LOG"; }
export NCCL_NVLS_ENABLE=0

if [ -z "$WORLD" ]; then
    WORLD=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    [ "${WORLD:-0}" -ge 2 ] || WORLD=2
fi
if [ -z "$COLL_LIB" ] && [ "$BACKEND" = cpu ]; then
    COLL_LIB=$ROOT/build/tests/librf_fake_coll.so
elif [ -z "$COLL_LIB" ]; then
    if ldconfig -p 2>/dev/null | grep -q 'libnccl.so.2 '; then
        COLL_LIB=libnccl.so.2
    else
        COLL_LIB=$(python3 -c 'import nvidia.nccl, os; d = list(nvidia.nccl.__path__)[0]; print(os.path.join(d, "lib", "libnccl.so.2"))' 2>/dev/null || true)
        [ -n "$COLL_LIB" ] && [ -r "$COLL_LIB" ] || COLL_LIB=librccl.so.1
    fi
fi
export ROCMFORGE_COLL_LIB=$COLL_LIB
[ "$BACKEND" = cpu ] && export ROCMFORGE_COLL_HOST=1
TH=()
[ -n "$THREADS" ] && TH=(--threads "$THREADS")
DEVICE=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ "$BACKEND" = cpu ] && DEVICE="the CPU ($(nproc) cores), the ranks meeting through $COLL_LIB"
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# the N processes of one rocmforge command (its arguments; {r} in one
# becomes the rank), rank r's stdout and stderr in $OUT/$1-r.out and .err;
# 0 when every one exits 0
world() {
    local tag=$1 p r pids=() rc=0
    shift
    p=$(port)
    for ((r = WORLD - 1; r >= 0; r--)); do
        timeout 600 "$RF" "${@//\{r\}/$r}" --backend "$BACKEND" "${TH[@]}" --tp-world "$WORLD" --tp-rank "$r" \
            --tp-addr "127.0.0.1:$p" >"$OUT/$tag-$r.out" 2>"$OUT/$tag-$r.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

log "== tp_world: $(basename "$MODEL"), $WORLD processes on $BACKEND ($DEVICE), collectives: $COLL_LIB"
IDS="1 450 3186 310 278 6257 29892 263 1243 310 278 3186 29889 13 29902 626"
fail=0
"$RF" logits "$MODEL" --tokens "$IDS" --out "$OUT/ref.f32" --backend "$BACKEND" "${TH[@]}" >>"$LOG" 2>&1 ||
    { log "the unsplit logits failed (see $LOG)"; exit 1; }
lrc=0
world logits logits "$MODEL" --tokens "$IDS" --out "$OUT/world-{r}.f32" || lrc=1
ROCMFORGE_TP_THREADS=1 timeout 600 "$RF" logits "$MODEL" --tokens "$IDS" --out "$OUT/world-$WORLD.f32" \
    --backend "$BACKEND" "${TH[@]}" --tp "$WORLD" >"$OUT/logits-threads.err" 2>&1 || lrc=1
if [ $lrc != 0 ]; then
    log "a rank's logits failed:"; tail -n 3 "$OUT"/logits-*.err | tee -a "$LOG"; fail=1
else
    python3 - "$OUT/ref.f32" "$WORLD" "$OUT" <<'EOF' | tee -a "$LOG" || fail=1
import array, math, sys
ref_path, world, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(p):
    a = array.array("f")
    with open(p, "rb") as f:
        a.frombytes(f.read())
    return a
ref = load(ref_path)
rows = 16
n = len(ref) // rows
ok = True
first = None
for r in range(world + 1):  # the processes, then --tp N's threads
    got = load("%s/world-%d.f32" % (out, r))
    name = "rank %d" % r if r < world else "--tp %d (threads)" % world
    if len(got) != len(ref):
        print("%s: %d floats, the unsplit model %d" % (name, len(got), len(ref)))
        ok = False
        continue
    if first is None:
        first = got
    elif got != first:
        print("%s's logits differ from rank 0's" % name)
        ok = False
    cmin, dmax, top = 1.0, 0.0, 0
    for i in range(rows):
        a, b = ref[i * n:(i + 1) * n], got[i * n:(i + 1) * n]
        dot = sum(x * y for x, y in zip(a, b))
        na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
        cmin = min(cmin, dot / (na * nb) if na and nb else 0.0)
        dmax = max(dmax, max(abs(x - y) for x, y in zip(a, b)))
        top += max(range(n), key=a.__getitem__) == max(range(n), key=b.__getitem__)
    print("%s: cosine min %.6f, largest difference %.3g, top-1 %d/%d" % (name, cmin, dmax, top, rows))
    ok &= cmin >= 0.999
print("logits: %s" % ("within bounds, the ranks and the threads alike" if ok else "FAILED"))
sys.exit(0 if ok else 1)
EOF
fi

# speed
bench_json() { python3 -c 'import json, sys; j = json.load(sys.stdin); print("%.1f %.1f" % (j["prefill_tok_s"], j["decode_tok_s"]))'; }
one=$("$RF" bench "$MODEL" -p 512 -n 128 --backend "$BACKEND" "${TH[@]}" --json 2>>"$LOG" | bench_json)
if world bench bench "$MODEL" -p 512 -n 128 --json; then
    tp=$(bench_json <"$OUT/bench-0.out")
else
    tp="failed failed"; fail=1; tail -n 3 "$OUT"/bench-*.err | tee -a "$LOG"
fi
thr=$(ROCMFORGE_TP_THREADS=1 "$RF" bench "$MODEL" -p 512 -n 128 --backend "$BACKEND" "${TH[@]}" --tp "$WORLD" --json \
    2>>"$LOG" | bench_json) || { thr="failed failed"; fail=1; }
{
    echo "Device: $DEVICE; $(date -u +%Y-%m-%d); rocmforge $(cat "$ROOT/.carry/COMMIT" 2>/dev/null || git -C "$ROOT" rev-parse --short HEAD)"
    echo
    echo "| run | pp512 tok/s | tg128 tok/s |"
    echo "|---|---|---|"
    echo "| rocmforge, one device | ${one% *} | ${one#* } |"
    echo "| rocmforge --tp-world $WORLD (a process a rank) | ${tp% *} | ${tp#* } |"
    echo "| rocmforge --tp $WORLD (a thread a rank) | ${thr% *} | ${thr#* } |"
} >"$OUT/tp.md"
if [ -n "$LLAMA_BIN" ] && [ "$BACKEND" = gpu ]; then
    for sm in layer row; do
        j=$("$LLAMA_BIN/llama-bench" -m "$MODEL" -p 512 -n 128 -ngl 99 -fa 1 -sm $sm -r 3 -o json 2>>"$LOG")
        echo "$j" | python3 -c '
import json, sys
r = json.load(sys.stdin)
pp = [x["avg_ts"] for x in r if x["n_prompt"] > 0]
tg = [x["avg_ts"] for x in r if x["n_gen"] > 0]
print("| llama-bench -sm '"$sm"' | %.1f | %.1f |" % (pp[0], tg[0]))' >>"$OUT/tp.md" 2>>"$LOG" ||
            echo "| llama-bench -sm $sm | failed | failed |" >>"$OUT/tp.md"
    done
fi
cat "$OUT/tp.md" | tee -a "$LOG"
exit $fail
