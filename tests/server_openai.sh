#!/bin/sh
# server_openai.sh BUILD MODEL: tests/server_openai.test.mjs under node's test
# runner, with the official openai client that scripts/fetch-reference.sh put
# in the reference cache ($ROCMFORGE_REF_DIR, else ~/.cache/rocmforge-ref).
set -eu
REF=${ROCMFORGE_REF_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rocmforge-ref}
if [ ! -d "$REF/openai/node_modules/openai" ]; then
    echo "server_openai: $REF/openai has no openai client (run scripts/fetch-reference.sh)" >&2
    exit 1
fi
ROCMFORGE_BUILD=$1 ROCMFORGE_MODEL=$2 ROCMFORGE_OPENAI=$REF/openai \
    exec node --test "$(dirname "$0")/server_openai.test.mjs"
