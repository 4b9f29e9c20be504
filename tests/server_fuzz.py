#!/usr/bin/python3
"""server_fuzz.py BUILD MODEL: broken and hostile requests against `rocmforge serve`.

A generated corpus (a fixed seed): bodies that are not JSON, JSON of the wrong shape, every
field of a completion request given each wrong type, out-of-range numbers, huge and deeply
nested values, invalid UTF-8, stray headers and methods, unknown paths, and requests cut off
mid-body. Each must get an answer with the status it deserves (400, 404, 413; never 5xx, never
a dropped connection), and after every one the server must still answer a good request right.
Run on the ASan build too (label unit), where a leak or a bad access fails it.
"""
import json
import random
import signal
import socket
import sys
import urllib.error
import urllib.request

import serve_util

BUILD, MODEL = sys.argv[1], sys.argv[2]
random.seed(1234)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def post(port, path, data, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # a dropped connection is a failure of the server
        return -1, str(e).encode()


WRONG = [None, True, -1, 0, 1e308, -1e308, 2**63, "x", "", [], [1, "a"], {}, {"a": {"b": [None]}}, "\u0000", "é" * 50]
FIELDS = ["prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
          "seed", "stop", "presence_penalty", "frequency_penalty", "repeat_penalty", "logit_bias", "logprobs",
          "top_logprobs", "response_format", "stream", "stream_options", "n", "tools"]


def corpus():
    good_c = {"prompt": "And God said", "max_tokens": 2, "temperature": 0}
    good_m = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "temperature": 0}
    for path, good in (("/v1/completions", good_c), ("/v1/chat/completions", good_m)):
        for f in FIELDS:
            for w in WRONG:
                body = dict(good)
                body[f] = w
                yield path, json.dumps(body).encode(), None
    for raw in [b"", b"{", b"[]", b"null", b"123", b'"str"', b"{\"prompt\":", b"\xff\xfe\x00garbage",
                b'{"prompt": "\xff\xfe"}', b'{"messages": [{"role": "user", "content": "\xc3"}]}',
                b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                b'{"messages": [' + b'{"role": "user", "content": "x"},' * 2000 + b'{"role": "user", "content": "y"}]}',
                json.dumps({"messages": [{"role": "user", "content": "x" * 20000}], "max_tokens": 1}).encode()]:
        for path in ("/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize", "/apply-template"):
            yield path, raw, None
    for path in ("/", "/v1", "/v1/models/x", "/metrics/..", "/%00", "/" + "a" * 5000):
        yield path, b"{}", None
    for _ in range(60):  # random byte soup and random mutations of good bodies
        b = bytearray(json.dumps(random.choice([good_c, good_m])).encode())
        for _ in range(random.randint(1, 6)):
            b[random.randrange(len(b))] = random.randrange(256)
        yield random.choice(["/v1/completions", "/v1/chat/completions", "/tokenize"]), bytes(b), None


def main():
    srv, port, _, _ = serve_util.start(BUILD + "/rocmforge", MODEL, "--parallel", "2", "--backend", "cpu", "-t", "2",
                                       "--ctx", "256")
    good = json.dumps({"prompt": "And God said", "max_tokens": 4, "temperature": 0}).encode()
    st, want = post(port, "/v1/completions", good)
    want = json.loads(want)["choices"][0]["text"]
    n = 0
    for path, body, headers in corpus():
        st, out = post(port, path, body, headers)
        n += 1
        ok = st in (200, 400, 404, 413)
        if ok and st != 200:
            try:
                err = json.loads(out)["error"]
                ok = err["code"] == st and isinstance(err["message"], str)
            except (ValueError, KeyError, TypeError):
                ok = False
        check(ok, "%s %r...: %d %r" % (path, body[:60], st, out[:200]))
        if n % 25 == 0:  # still serving, and right
            st, out = post(port, "/v1/completions", good)
            check(st == 200 and json.loads(out)["choices"][0]["text"] == want, "alive after %d requests" % n)
    # a body cut off mid-way, and a client that sends nothing
    for piece in (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":",
                  b"GARBAGE\r\n\r\n", b""):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(piece)
        s.close()
    st, out = post(port, "/v1/completions", good)
    check(st == 200 and json.loads(out)["choices"][0]["text"] == want, "alive after broken connections")
    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=60) == 0, "SIGTERM ends it cleanly (no leak under ASan)")
    print("server_fuzz: %d requests" % n)
    if failures:
        print("%d failed" % len(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
