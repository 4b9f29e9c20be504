#!/usr/bin/env bash
# Fetch llama.cpp, our reference, from the npm registry into a cache outside
# the repository:
#   $REF/llama.cpp/       the source tree cloned from node-llama-cpp's
#                         llama/gitRelease.bundle (models/ggml-vocab-*.gguf,
#                         *.inp/*.out tokenizer vectors, templates, gguf-py)
#   $REF/lib/             the prebuilt libllama.v0.5.0.so and ggml backends
#                         from @node-llama-cpp/linux-x64
#   $REF/openai/          the official `openai` npm client (node_modules), which
#                         tests/server_openai.test.mjs drives the server with
# REF is $ROCMFORGE_REF_DIR, else $XDG_CACHE_HOME/rocmforge-ref, else
# ~/.cache/rocmforge-ref. Prints REF on stdout. Idempotent: a complete cache
# is reused; a partial one is fetched again.
set -euo pipefail
VERSION=3.22.1
OPENAI_VERSION=4.104.0
REF=${ROCMFORGE_REF_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rocmforge-ref}
mkdir -p "$REF"
# the openai client, apart: a cache from before it was fetched gets it now
ostamp="$REF/.complete-openai-$OPENAI_VERSION"
if [ ! -f "$ostamp" ]; then
  command -v npm >/dev/null || { echo "fetch-reference: npm not found (run scripts/install-deps.sh)" >&2; exit 1; }
  rm -rf "$REF/openai"
  npm install --silent --no-audit --no-fund --prefix "$REF/openai" "openai@$OPENAI_VERSION" >/dev/null
  touch "$ostamp"
fi
stamp="$REF/.complete-$VERSION"
if [ -f "$stamp" ]; then echo "$REF"; exit 0; fi

command -v npm >/dev/null || { echo "fetch-reference: npm not found (run scripts/install-deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d "$REF/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >/dev/null )
mkdir -p "$tmp/src" "$tmp/bin"
tar xzf "$tmp/node-llama-cpp-$VERSION.tgz" -C "$tmp/src" package/llama/gitRelease.bundle
tar xzf "$tmp/node-llama-cpp-linux-x64-$VERSION.tgz" -C "$tmp/bin"
git -c advice.detachedHead=false clone -q "$tmp/src/package/llama/gitRelease.bundle" "$tmp/llama.cpp"
rm -rf "$REF/llama.cpp" "$REF/lib"
mv "$tmp/llama.cpp" "$REF/llama.cpp"
mv "$tmp/bin/package/bins/linux-x64" "$REF/lib"
touch "$stamp"
echo "$REF"
