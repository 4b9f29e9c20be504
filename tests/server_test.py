#!/usr/bin/python3
"""server_test.py BUILD MODEL: `rocmforge serve` against the rest of rocmforge.

The server runs the bundled model on the CPU with four slots and an API key.
Greedy completions must be the text `rocmforge run --temp 0` prints for the same
prompts, alone and when four arrive at once (batched decode); a streamed chat
reply must be the pieces of the unstreamed one; stop strings cut the text before
them; /tokenize, /detokenize and /apply-template must agree with `rocmforge
tokenize`, the tokens themselves and `rocmforge template`; bad requests are
errors naming what is wrong; /metrics counts what happened; SIGTERM ends it;
/v1/embeddings is refused for this model, which gives logits.
Python's standard library is the client.

server_test.py BUILD MODEL embeddings: the same for an embedding model instead
(a random-weight bert that rf_gen_model writes with the WordPiece vocabulary of
the llama.cpp reference): /v1/embeddings' vectors (a string, several, token ids;
float and base64) are `rocmforge embed`'s, its usage counts the tokens, bad
requests are 400s naming the field, the completion endpoints refuse it.
"""
import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

import serve_util

BUILD, MODEL = sys.argv[1], sys.argv[2]
BIN = os.path.join(BUILD, "rocmforge")
KEY = "secret-key"
PROMPTS = ["In the beginning God created", "And God said", "The LORD is my shepherd", "Blessed are"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def call(port, path, body=None, key=KEY, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def run_ref(prompt, n):
    out = subprocess.run([BIN, "run", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "--backend", "cpu",
                          "-t", "2"], capture_output=True, text=True, check=True)
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout  # run ends its output with a newline


def main():
    srv, port, _, log = serve_util.start(BIN, MODEL, "--parallel", "4", "--backend", "cpu", "-t", "2",
                                         "--api-key", KEY)
    check(port is not None, "the server says its port")

    check(call(port, "/health", key=None)[0] == 200, "/health needs no key")
    check(call(port, "/v1/models", key=None)[0] == 401, "no key: 401")
    check(call(port, "/v1/models", key="wrong")[0] == 401, "a wrong key: 401")
    st, body = call(port, "/v1/models")
    check(st == 200 and json.loads(body)["data"][0]["id"] == os.path.basename(MODEL), "/v1/models names the model")

    # greedy completions: alone, then four at once
    refs = [run_ref(p, 16) for p in PROMPTS]
    for p, ref in zip(PROMPTS, refs):
        st, body = call(port, "/v1/completions", {"prompt": p, "max_tokens": 16, "temperature": 0})
        j = json.loads(body)
        check(st == 200 and j["choices"][0]["text"] == ref, "completion of %r is run's %r: %r" % (p, ref, body))
        check(j["usage"]["completion_tokens"] == 16 and j["choices"][0]["finish_reason"] == "length",
              "16 tokens, finish_reason length")
    got = [None] * 4

    def one(i):
        got[i] = call(port, "/v1/completions", {"prompt": PROMPTS[i], "max_tokens": 16, "temperature": 0})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for i in range(4):
        check(got[i][0] == 200 and json.loads(got[i][1])["choices"][0]["text"] == refs[i],
              "concurrent completion %d is run's" % i)

    # 16 streams at once on 4 slots (12 wait in the queue): each the text of its request alone
    words = ["Lord", "Moses", "Jerusalem", "David", "heaven", "water", "Israel", "king", "bread", "light", "sons",
             "mountain", "fire", "city", "people", "house"]
    alone = {}
    for w in words:
        st, body = call(port, "/v1/completions", {"prompt": "And the " + w, "max_tokens": 12, "temperature": 0})
        alone[w] = json.loads(body)["choices"][0]["text"] if st == 200 else None
    streamed = {}

    def stream_one(w):
        st, body = call(port, "/v1/completions", {"prompt": "And the " + w, "max_tokens": 12, "temperature": 0,
                                                  "stream": True})
        chunks = [json.loads(e[6:]) for e in body.split("\n\n") if e.startswith("data: {")]
        streamed[w] = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices")) if st == 200 else None

    threads = [threading.Thread(target=stream_one, args=(w,)) for w in words]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for w in words:
        check(alone[w] is not None and streamed.get(w) == alone[w],
              "stream %r among 16 is its text alone: %r vs %r" % (w, streamed.get(w), alone[w]))

    # streaming chat: the pieces are the reply
    msgs = [{"role": "system", "content": "Answer."}, {"role": "user", "content": "Who made the heaven?"}]
    st, body = call(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 20, "temperature": 0})
    whole = json.loads(body)["choices"][0]["message"]["content"]
    check(st == 200 and len(whole) > 0, "a chat reply")
    st, body = call(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 20, "temperature": 0,
                                                   "stream": True, "stream_options": {"include_usage": True}})
    events = [e[6:] for e in body.split("\n\n") if e.startswith("data: ")]
    check(events and events[-1] == "[DONE]", "the stream ends with [DONE]")
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    check(text == whole, "streamed pieces %r make the reply %r" % (text, whole))
    check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "the first chunk names the role")
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    check(finals in (["length"], ["stop"]), "one finish_reason")
    check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0, "a usage chunk last")

    # a prompt that extends one a slot holds evaluates only the rest, and answers as if it had not
    base = "And it came to pass in those days, that there went out a decree from Caesar Augustus, that all the world"
    for p in (base, base + " should be taxed. And all went to be taxed, every one into his own city"):
        st, body = call(port, "/v1/completions", {"prompt": p, "max_tokens": 10, "temperature": 0})
        j = json.loads(body)
        check(st == 200 and j["choices"][0]["text"] == run_ref(p, 10), "cached or not, run's text for %r" % p)
    cached = j["usage"]["prompt_tokens_details"]["cached_tokens"]
    check(cached > 20 and j["usage"]["prompt_tokens"] > cached, "the second prompt reused its prefix: %r" % j["usage"])

    # a client that hangs up mid-stream frees its slot; the server goes on serving
    import http.client
    hc = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hc.request("POST", "/v1/completions", json.dumps({"prompt": PROMPTS[1], "max_tokens": 200, "stream": True}),
               {"Authorization": "Bearer " + KEY})
    resp = hc.getresponse()
    check(resp.status == 200 and resp.read1(64).startswith(b"data: "), "a stream starts")
    hc.sock.shutdown(2)
    hc.close()
    import time
    busy = None
    for _ in range(100):
        body = call(port, "/metrics")[1]
        busy = re.search(r"^rocmforge_busy_slots (\d+)", body, re.M)
        if busy and busy.group(1) == "0":
            break
        time.sleep(0.05)
    check(busy and busy.group(1) == "0", "the slot of a client that left is free again")
    st, body = call(port, "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 16, "temperature": 0})
    check(st == 200 and json.loads(body)["choices"][0]["text"] == refs[0], "and the server still answers right")

    # stop strings: the text ends before the first one
    ref = refs[0]
    stop = ref[ref.index(",") - 2: ref.index(",") + 2] if "," in ref else ref[3:6]
    st, body = call(port, "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 16, "temperature": 0, "stop": [stop]})
    j = json.loads(body)
    check(j["choices"][0]["text"] == ref[:ref.index(stop)] and j["choices"][0]["finish_reason"] == "stop",
          "stop %r cuts %r: %r" % (stop, ref, body))

    # logit_bias: a token pushed up by 100 comes first; logprobs: the greedy token is the best alternative
    st, body = call(port, "/tokenize", {"content": " Amen"})
    amen = json.loads(body)["tokens"][0]
    st, body = call(port, "/detokenize", {"tokens": [amen]})
    amen_text = json.loads(body)["content"]
    st, body = call(port, "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 1, "temperature": 0,
                                              "logit_bias": {str(amen): 100}})
    check(st == 200 and json.loads(body)["choices"][0]["text"].strip() == amen_text.strip(),
          "logit_bias +100 makes %r the token: %r" % (amen_text, body))
    # ignore_eos: with the end-of-text token pushed up by 100 a reply ends at once; with ignore_eos it runs
    # to max_tokens, and each of its tokens is the one logit_bias would give without that token
    st, body = call(port, "/tokenize", {"content": "</s>", "parse_special": True})
    eos = json.loads(body)["tokens"]
    check(st == 200 and len(eos) == 1, "</s> is one token: %r" % body)
    req = {"prompt": PROMPTS[0], "max_tokens": 16, "temperature": 0, "logit_bias": {str(eos[0]): 100}}
    st, body = call(port, "/v1/completions", req)
    j = json.loads(body)
    check(st == 200 and j["choices"][0]["finish_reason"] == "stop" and j["usage"]["completion_tokens"] == 0,
          "EOS pushed up ends the reply at once: %r" % body)
    st, body = call(port, "/v1/completions", dict(req, ignore_eos=True))
    j = json.loads(body)
    check(st == 200 and j["choices"][0]["finish_reason"] == "length" and j["usage"]["completion_tokens"] == 16 and
          j["choices"][0]["text"] == refs[0], "ignore_eos runs to max_tokens with run's text: %r" % body)
    st, body = call(port, "/v1/completions", dict(req, ignore_eos="yes"))
    check(st == 400 and "'ignore_eos'" in body, "ignore_eos must be a boolean: %r" % body)
    st, body = call(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 5, "temperature": 0,
                                                   "logprobs": True, "top_logprobs": 3})
    j = json.loads(body)
    content = j["choices"][0]["logprobs"]["content"] if st == 200 else []
    check(len(content) == j.get("usage", {}).get("completion_tokens", -1), "a logprob a generated token")
    check("".join(e["token"] for e in content) == j["choices"][0]["message"]["content"],
          "the tokens spell the reply (leading spaces kept)")
    for e in content:
        tops = e["top_logprobs"]
        check(len(tops) == 3 and e["logprob"] <= 0 and tops[0]["logprob"] == e["logprob"] and
              tops[0]["token"] == e["token"] and tops[0]["logprob"] >= tops[1]["logprob"] >= tops[2]["logprob"] and
              bytes(e["bytes"]).decode("utf-8", "replace") == e["token"],
              "greedy: the token is the best of its top_logprobs: %r" % e)
    st, body = call(port, "/v1/chat/completions", {"messages": msgs, "max_tokens": 5, "temperature": 0,
                                                   "logprobs": True, "top_logprobs": 3, "stream": True})
    chunks = [json.loads(e[6:]) for e in body.split("\n\n") if e.startswith("data: {")]
    streamed = [e for c in chunks if c["choices"] and c["choices"][0].get("logprobs")
                for e in c["choices"][0]["logprobs"]["content"]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    check(st == 200 and streamed == content and "".join(e["token"] for e in streamed) == text,
          "streamed logprobs: the same entries, each with its token's text")

    # response_format: sampling constrained to JSON that parses and follows the schema
    schema = {"type": "object", "required": ["ok", "n", "c"],
              "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}, "c": {"enum": ["red", "green"]}}}

    def follows(v):
        return (isinstance(v, dict) and set(v) <= set(schema["properties"]) and set(schema["required"]) <= set(v) and
                isinstance(v["ok"], bool) and isinstance(v["n"], int) and not isinstance(v["n"], bool) and
                v["c"] in ("red", "green"))
    for seed in range(4):
        st, body = call(port, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "Give JSON"}], "max_tokens": 400, "seed": seed,
            "temperature": 0.8, "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}})
        j = json.loads(body) if st == 200 else {}
        ok = st == 200 and j["choices"][0]["finish_reason"] == "stop"
        try:
            ok = ok and follows(json.loads(j["choices"][0]["message"]["content"]))
        except ValueError:
            ok = False
        check(ok, "json_schema, seed %d: a reply that parses and follows the schema: %r" % (seed, body[:400]))
    st, body = call(port, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 50,
                                                   "seed": 0, "response_format": {"type": "json_object"}})
    j = json.loads(body)
    check(st == 200 and (j["choices"][0]["finish_reason"] == "length" or
                         isinstance(json.loads(j["choices"][0]["message"]["content"]), dict)), "json_object: an object")

    # /v1/completions' legacy logprobs: tokens spelling the text, the greedy one first among its alternatives
    st, body = call(port, "/v1/completions", {"prompt": PROMPTS[2], "max_tokens": 6, "temperature": 0, "logprobs": 3})
    ch = json.loads(body)["choices"][0] if st == 200 else {}
    lg = ch.get("logprobs") or {}
    check(st == 200 and "".join(lg.get("tokens", [])) == ch.get("text") and len(lg["token_logprobs"]) == 6 and
          all(max(t.values()) == v and len(t) <= 3 for t, v in zip(lg["top_logprobs"], lg["token_logprobs"])) and
          lg["text_offset"][0] == 0 and lg["text_offset"] == sorted(lg["text_offset"]),
          "legacy logprobs: %r" % body[:300])

    # tokenizer and template endpoints
    tok = subprocess.run([BIN, "tokenize", MODEL, "Hello world", "--no-bos"], capture_output=True, text=True).stdout
    st, body = call(port, "/tokenize", {"content": "Hello world"})
    ids = json.loads(body)["tokens"]
    check(st == 200 and " ".join(map(str, ids)) == tok.strip(), "/tokenize is `rocmforge tokenize --no-bos`")
    st, body = call(port, "/detokenize", {"tokens": ids})
    check(st == 200 and json.loads(body)["content"].strip() == "Hello world", "/detokenize gives the text back")
    with open(os.path.join(BUILD, "server_test_msgs.json"), "w") as f:
        json.dump(msgs, f)
    tmpl = subprocess.run([BIN, "template", MODEL, "--messages", f.name], capture_output=True, text=True).stdout
    st, body = call(port, "/apply-template", {"messages": msgs})
    check(st == 200 and json.loads(body)["prompt"] == tmpl, "/apply-template is `rocmforge template`")

    # bad requests
    for path, req, code, needle in [
        ("/v1/completions", None, 400, "not JSON"),
        ("/v1/completions", {"prompt": "x", "temperature": "hot"}, 400, "'temperature'"),
        ("/v1/completions", {"prompt": "x", "n": 2}, 400, "'n'"),
        ("/v1/completions", {"prompt": "x", "logit_bias": {"-3": 2}}, 400, "'logit_bias'"),
        ("/v1/completions", {"prompt": "x", "logit_bias": {"5": 500}}, 400, "[-100, 100]"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3}, 400,
         "'top_logprobs'"),
        ("/v1/completions", {"prompt": 5}, 400, "'prompt'"),
        ("/v1/chat/completions", {"messages": []}, 400, "'messages'"),
        ("/v1/completions", {"prompt": "x", "response_format": {"type": "yaml"}}, 400, "'response_format'"),
        ("/v1/completions", {"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {
            "schema": {"anyOf": [{"type": "string"}]}}}}, 400, "'anyOf' is not supported yet"),
        ("/v1/completions", {"prompt": "x " * 400}, 400, "context"),
        ("/detokenize", {"tokens": [1, 99999999]}, 400, "not a token id"),
        ("/v2/nothing", {}, 404, "no such endpoint"),
    ]:
        st, body = call(port, path, req, raw=b"{bad" if req is None else None)
        check(st == code and needle in body, "%s %r: %d %r" % (path, req, st, body))
        err = json.loads(body).get("error", {})
        check(set(err) >= {"message", "type", "param", "code"} and err["code"] == code, "an OpenAI error object")
    st, body = call(port, "/v1/completions", {"prompt": "x", "temperature": "hot"})
    check(json.loads(body)["error"]["param"] == "temperature", "the error's param names the field")
    st, body = call(port, "/v1/embeddings", {"input": "x"})
    check(st == 400 and "not embeddings" in body, "/v1/embeddings refused for a model of logits: %d %r" % (st, body))

    st, body = call(port, "/metrics")
    m = dict(re.findall(r"^(rocmforge_\w+(?:\{[^}]*\})?) (\S+)$", body, re.M))
    check(st == 200 and float(m.get('rocmforge_requests_total{status="400"}', 0)) >= 13, "metrics count the 400s")
    check(float(m.get("rocmforge_generated_tokens_total", 0)) >= 16 * 8, "metrics count generated tokens")
    check(float(m.get("rocmforge_time_to_first_token_seconds_count", 0)) >= 8, "a time-to-first-token histogram")
    check(float(m.get("rocmforge_kv_blocks_used", -1)) + float(m.get("rocmforge_kv_blocks_free", -1)) == 4 * 8,
          "the cache's blocks, used and free, are the pool (4 slots of 256 positions: 32 blocks)")

    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=30) == 0, "SIGTERM stops the server cleanly")
    small_cache()
    queue_full()
    lines = "".join(log)
    check(re.search(r"POST /v1/completions 200 prompt=\d+ generated=16 first_token=[\d.]+s total=[\d.]+s", lines),
          "one log line a request, with its tokens and times")
    check("POST /v1/completions 499" in lines, "the client that left is logged as such")
    if failures:
        print("%d failed" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("server: all checks passed")


def small_cache():
    """--ctx is the cache in all: 128 positions (4 blocks) for 2 slots. A reply needing the blocks an
    idle slot keeps takes them (least recently used first) and is still run's; two replies that
    together outgrow the cache: one ends early with finish_reason length, neither fails."""
    srv, port, ready, _ = serve_util.start(BIN, MODEL, "--parallel", "2", "--ctx", "128", "--backend", "cpu", "-t", "2")
    check("a cache of 128" in ready, "the cache is --ctx positions: %r" % ready)
    for p in ("And God said", "The LORD is my shepherd"):  # each needs 3 blocks; the first keeps its 3
        st, body = call(port, "/v1/completions", {"prompt": p, "max_tokens": 70, "temperature": 0}, key=None)
        j = json.loads(body) if st == 200 else {}
        check(st == 200 and j["choices"][0]["text"] == run_ref(p, 70), "small cache: %r is run's text" % p)
    got = [None, None]

    def one(i):
        got[i] = call(port, "/v1/completions", {"prompt": PROMPTS[i], "max_tokens": 100, "temperature": 0}, key=None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    made = [json.loads(b)["usage"]["completion_tokens"] for st, b in got if st == 200]
    check(len(made) == 2 and min(made) < 100, "two replies outgrowing the cache: both answered, one cut short: %r" % got)
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=30) == 0, "the small-cache server stops cleanly")


def queue_full():
    """One slot and its queue of 4 taken: 24 requests at once, each a reply of 200 tokens, get a
    503 (an OpenAI error object and Retry-After) past the first five; every other one is answered
    with its 200 tokens, and afterwards the server serves again."""
    srv, port, _, _ = serve_util.start(BIN, MODEL, "--parallel", "1", "--backend", "cpu", "-t", "2")
    got = [None] * 24
    go = threading.Barrier(len(got))

    def one(i):
        req = urllib.request.Request("http://127.0.0.1:%d/v1/completions" % port, data=json.dumps(
            {"prompt": PROMPTS[i % 4], "max_tokens": 200, "temperature": 0, "ignore_eos": True}).encode())
        go.wait()
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                got[i] = (r.status, r.headers.get("Retry-After"), r.read().decode())
        except urllib.error.HTTPError as e:
            got[i] = (e.code, e.headers.get("Retry-After"), e.read().decode())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(got))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    busy = [g for g in got if g and g[0] == 503]
    done = [g for g in got if g and g[0] == 200]
    check(len(busy) + len(done) == len(got) and len(done) >= 5 and busy,
          "a full queue: 503s past the slot and its queue, 200s otherwise: %r" % [g and g[0] for g in got])
    check(all(g[1] == "1" and json.loads(g[2])["error"]["type"] == "unavailable_error" for g in busy),
          "each 503 says Retry-After: 1 with an error object: %r" % busy[:1])
    check(all(json.loads(g[2])["usage"]["completion_tokens"] == 200 for g in done), "each 200 is a whole reply")
    st, body = call(port, "/v1/completions", {"prompt": PROMPTS[0], "max_tokens": 4, "temperature": 0}, key=None)
    check(st == 200, "after the rush the server serves again: %r" % body[:200])
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=30) == 0, "the one-slot server stops cleanly")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def embeddings():
    """An embedding model: /v1/embeddings against `rocmforge embed` (normalised, the model's pooling)."""
    ref = os.environ.get("ROCMFORGE_REF_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "rocmforge-ref")
    vocab = os.path.join(ref, "llama.cpp", "models", "ggml-vocab-bert-bge.gguf")
    tmp = tempfile.mkdtemp(dir=BUILD)
    model = os.path.join(tmp, "bert.gguf")
    subprocess.run([os.path.join(BUILD, "tests", "rf_gen_model"), "--arch", "bert", "--vocab", vocab, "--n-embd", "64",
                    "--n-layer", "2", "--n-head", "4", "--n-ff", "128", "--ctx", "512", "-o", model], check=True)
    texts = ["Hello world", "The quick brown fox jumps over the lazy dog.", "a"]
    cli = subprocess.run([BIN, "embed", model, *texts, "--backend", "cpu", "-t", "2"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    want = [[f32(float(x)) for x in line.split()] for line in cli]
    n_tok = [len(subprocess.run([BIN, "tokenize", model, t], capture_output=True, text=True, check=True).stdout.split())
             for t in texts]
    srv, port, ready, _ = serve_util.start(BIN, model, "--backend", "cpu", "-t", "2")
    check("an embedding model" in ready, "the ready line says it is an embedding model: %r" % ready)
    st, body = call(port, "/v1/embeddings", {"input": texts, "model": "bert"}, key=None)
    j = json.loads(body) if st == 200 else {}
    check(st == 200 and j["object"] == "list" and [d["index"] for d in j["data"]] == [0, 1, 2]
          and all(d["object"] == "embedding" for d in j["data"]), "a list of three embeddings: %d %r" % (st, body[:200]))
    check(st == 200 and [[f32(x) for x in d["embedding"]] for d in j["data"]] == want,
          "each vector is rocmforge embed's")
    check(st == 200 and j["usage"] == {"prompt_tokens": sum(n_tok), "total_tokens": sum(n_tok)},
          "usage counts the tokens: %r, want %d" % (j.get("usage"), sum(n_tok)))
    st, body = call(port, "/v1/embeddings", {"input": texts[1], "encoding_format": "base64"}, key=None)
    v = list(struct.unpack("<%df" % len(want[1]), base64.b64decode(json.loads(body)["data"][0]["embedding"])))
    check(st == 200 and v == want[1], "base64: the vector's float32 bytes")
    ids = subprocess.run([BIN, "tokenize", model, texts[0]], capture_output=True, text=True, check=True).stdout.split()
    st, body = call(port, "/v1/embeddings", {"input": [int(i) for i in ids]}, key=None)
    check(st == 200 and [f32(x) for x in json.loads(body)["data"][0]["embedding"]] == want[0],
          "token ids as input: the text's vector")
    for req, param in (({"input": []}, "input"), ({}, "input"), ({"input": [[]]}, "input"),
                       ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
                       ({"input": [10 ** 9]}, "input"), ({"input": "x", "dimensions": 3}, "dimensions"),
                       ({"input": "x " * 600}, "input")):
        st, body = call(port, "/v1/embeddings", req, key=None)
        err = json.loads(body).get("error", {})
        check(st == 400 and err.get("param") == param, "%r: a 400 naming %r: %d %r" % (req, param, st, body[:200]))
    for path, req in (("/v1/completions", {"prompt": "x"}), ("/v1/chat/completions",
                                                            {"messages": [{"role": "user", "content": "x"}]})):
        st, body = call(port, path, req, key=None)
        check(st == 400 and "embedding model" in body, "%s refused for an embedding model: %d %r" % (path, st, body))
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=30) == 0, "the embedding server stops cleanly")
    shutil.rmtree(tmp)
    if failures:
        print("%d failed" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("server embeddings: all checks passed")


if __name__ == "__main__":
    if sys.argv[3:] == ["embeddings"]:
        embeddings()
    else:
        main()
