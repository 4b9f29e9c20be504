#!/usr/bin/python3
"""jinja_ref.py: chat templates rendered by Python's jinja2, as transformers renders them.

usage: jinja_ref.py CASES.json OUT.json

CASES.json: {"templates": {NAME: SOURCE, ...}, "contexts": {NAME: {VARS}, ...},
             "pairs": [[TEMPLATE_NAME, CONTEXT_NAME], ...]}
OUT.json:   [{"template": T, "context": C, "output": TEXT} or {..., "error": MESSAGE}, ...]

The environment is transformers' (_compile_jinja_template): an immutable sandbox with
trim_blocks and lstrip_blocks, the loop controls, the generation block (its body only),
raise_exception, a tojson that is json.dumps(ensure_ascii=False), and strftime_now -- here
at a fixed instant, 2026-01-15 10:30:00, so that renders repeat (the C side is given the same).
"""
import json
import sys
from datetime import datetime

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime(2026, 1, 15, 10, 30, 0)


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return NOW.strftime(fmt)


def main():
    cases = json.load(open(sys.argv[1], encoding="utf-8"))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    out = []
    compiled = {}
    for tname, cname in cases["pairs"]:
        r = {"template": tname, "context": cname}
        try:
            if tname not in compiled:
                compiled[tname] = env.from_string(cases["templates"][tname])
            r["output"] = compiled[tname].render(**cases["contexts"][cname])
        except Exception as e:  # any failure is the expected answer: the C side must fail too
            r["error"] = "%s: %s" % (type(e).__name__, e)
        out.append(r)
    json.dump(out, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
