#!/bin/sh
# example_generate.sh BUILD MODEL: examples/generate.c, which uses only the
# public C API, must print the text `rocmforge run --temp 0` prints for the
# same prompt (greedy: one right answer), on the backend both choose.
set -eu
build=$1 model=$2
prompt="And God said, Let there be light"
ours=$("$build/examples/rf_example_generate" "$model" "$prompt" 24)
ref=$("$build/rocmforge" run "$model" -p "$prompt" -n 24 --temp 0 2>/dev/null)
if [ "$ours" != "$ref" ]; then
    printf 'rf_example_generate: [%s]\nrocmforge run:       [%s]\n' "$ours" "$ref" >&2
    exit 1
fi
[ -n "$ours" ] || { echo "no text generated" >&2; exit 1; }
printf '%s\n' "$ours"
