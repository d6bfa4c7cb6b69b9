#!/usr/bin/env bash
# Builds (Release) and runs the fibonacci benchmark: bobbin beside serial, oneTBB and
# OpenMP, in one binary. Installs what is missing on Debian/Ubuntu first. Extra arguments
# go to Google Benchmark (e.g. --benchmark_filter=/30); BOBBIN_THREADS sets the pool size.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset fib -j "$(nproc)"
exec build/release/bench/bench_fib "$@"
