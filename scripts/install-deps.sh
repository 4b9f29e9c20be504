#!/usr/bin/env bash
# Install the Debian 12 packages ROCmForge builds and tests with, only those
# missing. Needs root (or sudo) the first time; a no-op afterwards.
set -euo pipefail
PKGS=(build-essential cmake pkg-config git clang libclang-rt-14-dev
      libpcre2-dev libunistring-dev libcunit1-dev libjansson-dev libmicrohttpd-dev python3-jinja2
      libamdhip64-dev llvm-19-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm fetches the llama.cpp reference. A nodejs from elsewhere may already
# bring it (and conflict with Debian's npm package), so test the command.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
