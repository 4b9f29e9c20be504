#!/bin/sh
# chat_test.sh BUILD MODEL: `rocmforge chat`, greedy, must answer each turn
# with what `rocmforge run --prompt-ids` gives for the whole conversation so
# far rendered by the chat template (`rocmforge template`): the tokens it
# keeps from earlier turns and the ones it evaluates anew add up to the
# same context. /reset starts over: the first answer again.
set -eu
build=$1 model=$2
bin=$build/rocmforge
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'In the beginning\nAnd then?\n/reset\nIn the beginning\n/exit\n' |
    "$bin" chat "$model" --temp 0 -n 16 -t 2 --backend cpu 2>/dev/null >"$tmp/chat"
a1=$(sed -n 1p "$tmp/chat") a2=$(sed -n 2p "$tmp/chat") a3=$(sed -n 3p "$tmp/chat")
# the reference for turn 1, then turn 2 with turn 1's answer in the history
answer() { # messages.json -> the greedy continuation of its rendered prompt
    "$bin" template "$model" --messages "$1" >"$tmp/prompt"
    ids=$("$bin" tokenize "$model" "$(cat "$tmp/prompt")" --special)
    "$bin" run "$model" --prompt-ids "$ids" -n 16 --temp 0 --backend cpu -t 2 2>/dev/null | sed 's/^ //'
}
printf '[{"role":"user","content":"In the beginning"}]' >"$tmp/m1.json"
r1=$(answer "$tmp/m1.json")
python3 -c 'import json,sys; print(json.dumps([{"role":"user","content":"In the beginning"},
  {"role":"assistant","content":sys.argv[1]},{"role":"user","content":"And then?"}]))' "$a1" >"$tmp/m2.json"
r2=$(answer "$tmp/m2.json")
fail=0
[ "$a1" = "$r1" ] || { printf 'turn 1: chat [%s], run [%s]\n' "$a1" "$r1" >&2; fail=1; }
[ "$a2" = "$r2" ] || { printf 'turn 2: chat [%s], run [%s]\n' "$a2" "$r2" >&2; fail=1; }
[ "$a3" = "$a1" ] || { printf 'after /reset: [%s], first [%s]\n' "$a3" "$a1" >&2; fail=1; }
[ -n "$a1" ] || { echo "no answer" >&2; fail=1; }
exit $fail
