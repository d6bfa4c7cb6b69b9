#!/usr/bin/env bash
# Builds bobbin's tests, benchmarks and examples (g++, warnings as errors) and runs every
# test. Installs what is missing on Debian/Ubuntu first. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset dev
cmake --build --preset dev -j "$(nproc)"
ctest --preset dev "$@"
