#!/usr/bin/env bash
# serve_bench.sh: `rocmforge serve` against llama.cpp's `llama-server`, side by
# side in one run, on the same GGUF file, the same slots and context, and
# bench/results-serve.md.
#
#   bench/serve_bench.sh [--model GGUF|TYPE] [--backend cpu|gpu] [--threads N]
#       [--concurrency "1 8 32"] [--prompt-words W] [--max-tokens N]
#       [--slot-ctx N] [--reps R] [--build DIR] [--llama-bin DIR]
#       [--results FILE] [--device TEXT]
#
# --model: a GGUF file (default the bundled models/kjv-tiny-llama-q8_0.gguf),
# or a weight type (q4_k_m, q8_0, ...) for the Llama-3.2-1B-shaped model of
# bench/speed_model.sh.
# Steps: build rocmforge (Release, --build, default build-perf/) and
# llama-server (bench/llama-build.sh: the CPU backend from the reference
# source here, or CUDA with --backend gpu; --llama-bin takes a built bin/)
# when missing; start both servers at once, each with as many slots as the
# largest concurrency and a KV cache of slots x --slot-ctx positions shared
# by the slots (llama-server -kvu; ours shares its cache always), an f16 KV
# cache on both (llama-server's default, our --kv-f16), the same threads;
# wait for /health; one warm-up request each; then for each concurrency C
# and each of R rounds, bench/serve_load.py against ours and then llama's
# (alternating, so a load spike hits both): max(2C, 8) streamed greedy
# completions with ignore_eos, each of its own prompt, every reply exactly
# --max-tokens long. Each figure is the median of the R rounds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$ROOT/models/kjv-tiny-llama-q8_0.gguf
BACKEND=cpu
THREADS=$(nproc)
CONC="1 8 32"
WORDS=64
MAXTOK=64
SLOTCTX=256
REPS=3
BUILD=$ROOT/build-perf
LLAMA_BIN=
RESULTS=$ROOT/bench/results-serve.md
DEVICE=
usage="usage: $0 [--model GGUF|TYPE] [--backend cpu|gpu] [--threads N] [--concurrency \"1 8 32\"] [--prompt-words W]
       [--max-tokens N] [--slot-ctx N] [--reps R] [--build DIR] [--llama-bin DIR] [--results FILE] [--device TEXT]"
while [ $# -gt 0 ]; do
    case $1 in
    --model) MODEL=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    --prompt-words) WORDS=$2; shift 2 ;;
    --max-tokens) MAXTOK=$2; shift 2 ;;
    --slot-ctx) SLOTCTX=$2; shift 2 ;;
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
[ -f "$MODEL" ] || { echo "serve_bench: no model $MODEL" >&2; exit 1; }
OUT=$ROOT/bench/out/serve
mkdir -p "$OUT"

bench_rocmforge "$BUILD"
RF=$BUILD/rocmforge
[ -n "$LLAMA_BIN" ] || LLAMA_BIN=$(bench_llama "$BACKEND" llama-server)
[ -x "$LLAMA_BIN/llama-server" ] || { echo "serve_bench: no $LLAMA_BIN/llama-server" >&2; exit 1; }

max=0
for c in $CONC; do [ "$c" -gt "$max" ] && max=$c; done
CTX=$((max * SLOTCTX))
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_RF=$(free_port)
P_LL=$(free_port)
[ "$BACKEND" = gpu ] && NGL="-ngl 999" || NGL="-ngl 0"
# shellcheck disable=SC2086
"$RF" serve "$MODEL" --port "$P_RF" --parallel "$max" --ctx "$CTX" --threads "$THREADS" --backend "$BACKEND" \
    --kv-f16 >"$OUT/rocmforge.log" 2>&1 &
PID_RF=$!
# shellcheck disable=SC2086
"$LLAMA_BIN/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$P_LL" -np "$max" -c "$CTX" -kvu -t "$THREADS" \
    -tb "$THREADS" $NGL --no-webui >"$OUT/llama-server.log" 2>&1 &
PID_LL=$!
trap 'kill $PID_RF $PID_LL 2>/dev/null || true; wait 2>/dev/null || true' EXIT

wait_up() { # port pid name
    for _ in $(seq 600); do
        kill -0 "$2" 2>/dev/null || { echo "serve_bench: $3 exited; its log:" >&2; tail -20 "$OUT/$3.log" >&2; exit 1; }
        python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" \
            "http://127.0.0.1:$1/health" 2>/dev/null && return 0
        sleep 0.5
    done
    echo "serve_bench: $3 not up after 300 s" >&2
    exit 1
}
wait_up "$P_RF" "$PID_RF" rocmforge
wait_up "$P_LL" "$PID_LL" llama-server
LOAD="python3 $ROOT/bench/serve_load.py --prompt-words $WORDS --max-tokens $MAXTOK --json"
for p in "$P_RF" "$P_LL"; do
    $LOAD --port "$p" --concurrency 1 --requests 1 --first 100000 >/dev/null
done

: >"$OUT/runs.jsonl"
first=0
for c in $CONC; do
    n=$((2 * c > 8 ? 2 * c : 8))
    for r in $(seq "$REPS"); do
        for e in rocmforge llama; do
            p=$([ $e = rocmforge ] && echo "$P_RF" || echo "$P_LL")
            # both engines get the same prompts in a round; each round new ones
            $LOAD --port "$p" --concurrency "$c" --requests "$n" --first "$first" |
                python3 -c "import json,sys; j=json.load(sys.stdin); j['engine']='$e'; j['round']=$r; print(json.dumps(j))" \
                    | tee -a "$OUT/runs.jsonl" >&2
        done
        first=$((first + n))
    done
done

# ROCMFORGE_COMMIT: where the tree is a copy without its git history (the GPU machine)
commit=${ROCMFORGE_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && commit="$commit + uncommitted changes"
# --llama-bin's build records its commit (llama-build.sh); the GPU machine
# has no reference checkout to ask, nor a network to fetch one
llama_commit=$(cut -c1-7 "$LLAMA_BIN/../.llama-commit" 2>/dev/null ||
    git -C "$("$ROOT/scripts/fetch-reference.sh")/llama.cpp" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
python3 - "$OUT/runs.jsonl" "$RESULTS" <<EOF
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
rows = []
for c in sorted({r["concurrency"] for r in runs}):
    f = {}
    for e in ("rocmforge", "llama"):
        rs = [r for r in runs if r["engine"] == e and r["concurrency"] == c]
        f[e] = {k: med([r[k] for r in rs]) for k in ("req_s", "tok_s", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms")}
        f[e]["n"] = rs[0]["requests"]
    rows.append((c, f))
with open(sys.argv[2], "w") as o:
    o.write("""# rocmforge serve vs llama-server

Written by \`bench/serve_bench.sh\` (do not edit by hand; rerun it).

- Device: ${DEVICE:-$cpu ($(nproc) cores), the ${BACKEND} backend}
- Model: \`$(basename "$MODEL")\`; both servers: $max slots, a KV cache of $CTX positions shared by the slots
  (llama-server \`-kvu\`), f16 KV cache, $THREADS threads.
- Load (\`bench/serve_load.py\`): streamed \`/v1/completions\`, greedy, \`ignore_eos\`, a prompt of its own per request
  ($WORDS words: %d tokens), exactly $MAXTOK generated tokens each; max(2C, 8) requests at concurrency C.
  Figures: medians of $REPS rounds, the engines alternating within each round.
- rocmforge $commit; llama-server from the reference source ($llama_commit), built by \`bench/llama-build.sh\`.

| C | requests | engine | req/s | gen tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | tok/s ratio |
|---|---|---|---|---|---|---|---|---|---|
""" % runs[0]["prompt_tokens"])
    for c, f in rows:
        for e in ("rocmforge", "llama"):
            x = f[e]
            ratio = "%.2fx" % (f["rocmforge"]["tok_s"] / f["llama"]["tok_s"]) if e == "rocmforge" else ""
            o.write("| %d | %d | %s | %.2f | %.1f | %.0f | %.0f | %.1f | %.1f | %s |\n" % (
                c, x["n"], "rocmforge serve" if e == "rocmforge" else "llama-server", x["req_s"], x["tok_s"],
                x["ttft_p50_ms"], x["ttft_p99_ms"], x["itl_p50_ms"], x["itl_p99_ms"], ratio))
print(open(sys.argv[2]).read())
EOF
