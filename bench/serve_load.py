#!/usr/bin/env python3
"""serve_load.py: a load generator for OpenAI-compatible completion servers
(rocmforge serve, llama-server), for bench/serve_bench.sh.

    serve_load.py --port P --concurrency C --requests R --prompt-words W --max-tokens N [--json]

C clients, each sending its share of R streamed /v1/completions requests one
after another. Every request has its own prompt (a numbered line of W words
of scripture, so no two share more than a few tokens of prefix), greedy
sampling, `ignore_eos` and `max_tokens` N, so every reply is N tokens long on
either server. Reported: requests/s and generated tokens/s over the whole
run (first send to last reply), time to first token (send to the first
streamed token) and inter-token latency (the gaps between a stream's
tokens), p50 and p99, in milliseconds. Python's standard library only.
"""
import argparse
import http.client
import json
import sys
import threading
import time

WORDS = ("in the beginning god created the heaven and the earth and the earth was without form and void and "
         "darkness was upon the face of the deep and the spirit of god moved upon the face of the waters and god "
         "said let there be light and there was light and god saw the light that it was good and god divided the "
         "light from the darkness").split()


def prompt(i, words):
    # a line of its own: the number first, then the words from an offset of its own
    return "%d. " % i + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(words))


def one(port, i, a, out):
    body = {"prompt": prompt(i, a.prompt_words), "max_tokens": a.max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    if a.model:
        body["model"] = a.model
    hc = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.monotonic()
    hc.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = hc.getresponse()
    if r.status != 200:
        raise RuntimeError("request %d: status %d: %s" % (i, r.status, r.read()[:300]))
    stamps, usage, buf = [], None, b""
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: ") or ev == b"data: [DONE]":
                continue
            j = json.loads(ev[6:])
            if j.get("usage"):
                usage = j["usage"]
            if j.get("choices") and j["choices"][0].get("text"):
                stamps.append(time.monotonic())
    hc.close()
    t1 = time.monotonic()
    if not usage or not stamps:
        raise RuntimeError("request %d: no usage or no text in the stream" % i)
    out[i] = {"t0": t0, "t1": t1, "ttft": stamps[0] - t0, "itl": [b - a for a, b in zip(stamps, stamps[1:])],
              "gen": usage["completion_tokens"], "prompt": usage["prompt_tokens"]}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--prompt-words", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--first", type=int, default=0, help="the first request's number (prompts differ by number)")
    ap.add_argument("--model", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out, errors = {}, []
    ids = list(range(a.first, a.first + a.requests))

    def client(mine):
        for i in mine:
            try:
                one(a.port, i, a, out)
            except Exception as e:  # noqa: BLE001 - reported below, and the run fails
                errors.append(str(e))

    threads = [threading.Thread(target=client, args=(ids[c::a.concurrency],)) for c in range(a.concurrency)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    if errors:
        sys.exit("serve_load: %d of %d requests failed; first: %s" % (len(errors), a.requests, errors[0]))
    t0 = min(v["t0"] for v in out.values())
    t1 = max(v["t1"] for v in out.values())
    gen = sum(v["gen"] for v in out.values())
    ttft = [v["ttft"] for v in out.values()]
    itl = [g for v in out.values() for g in v["itl"]]
    res = {"concurrency": a.concurrency, "requests": a.requests, "prompt_tokens": out[ids[0]]["prompt"],
           "gen_tokens": gen, "seconds": t1 - t0, "req_s": a.requests / (t1 - t0), "tok_s": gen / (t1 - t0),
           "ttft_p50_ms": 1e3 * pct(ttft, 50), "ttft_p99_ms": 1e3 * pct(ttft, 99),
           "itl_p50_ms": 1e3 * pct(itl, 50), "itl_p99_ms": 1e3 * pct(itl, 99)}
    if gen != a.requests * a.max_tokens:
        sys.exit("serve_load: %d tokens generated, not %d x %d" % (gen, a.requests, a.max_tokens))
    print(json.dumps(res) if a.json else
          "c=%(concurrency)d %(requests)d requests: %(req_s).2f req/s, %(tok_s).1f tok/s, ttft p50 %(ttft_p50_ms).0f "
          "p99 %(ttft_p99_ms).0f ms, itl p50 %(itl_p50_ms).1f p99 %(itl_p99_ms).1f ms" % res)


if __name__ == "__main__":
    main()
