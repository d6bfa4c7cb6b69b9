#!/usr/bin/env bash
# Installs what bobbin's build, tests and benchmarks need on Debian/Ubuntu, only what is
# missing. Elsewhere it does nothing and CMake finds what you have (or fetches it from git).
# Arguments are extra packages for tools a build does not need, installed the same way:
# CI runs `scripts/deps.sh clang python3 clang-format-19` (clang-format-19: scripts/format.sh).
set -euo pipefail
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 || exit 0
want=(cmake ninja-build g++ clang doctest-dev libbenchmark-dev libtbb-dev libconcurrentqueue-dev pkg-config "$@")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bobbin: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
