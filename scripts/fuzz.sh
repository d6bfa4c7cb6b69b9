#!/usr/bin/env bash
# Builds and runs bobbin's libFuzzer targets (tests/fuzz/).
#
#   scripts/fuzz.sh [seconds=30] [fuzzer...]      fuzzers: fuzz_deque fuzz_channel fuzz_pool
#
# Installs what it needs on Debian/Ubuntu (clang and its runtime libraries), configures and
# builds the `fuzz` preset, replays every input kept in tests/fuzz/regressions/<fuzzer>/
# (each several times: some were races), then runs each fuzzer for the given seconds with a
# working corpus in build/fuzz/corpus/<fuzzer> (seeded from tests/fuzz/seeds/<fuzzer>) and
# crash, timeout and leak inputs written to build/fuzz/artifacts/<fuzzer>/. Prints one line
# per fuzzer; exits non-zero if a replay fails or a fuzzer finds anything.
#
# Environment: BOBBIN_FUZZ_JOBS (build jobs, default 2), BOBBIN_FUZZ_TIMEOUT (seconds one
# input may take before it counts as a hang, default 30), BOBBIN_FUZZ_REPLAYS (runs of each
# regression input, default 50).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(fuzz_deque fuzz_channel fuzz_pool)
seconds=${1:-30}
[ $# -gt 0 ] && shift
fuzzers=("$@")
[ ${#fuzzers[@]} -gt 0 ] || fuzzers=("${all[@]}")
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [seconds=30] [fuzzer...]   (fuzzers: ${all[*]})" >&2
  exit 2
fi
for f in "${fuzzers[@]}"; do
  [[ " ${all[*]} " == *" $f "* ]] || { echo "fuzz.sh: unknown fuzzer '$f' (known: ${all[*]})" >&2; exit 2; }
done
jobs=${BOBBIN_FUZZ_JOBS:-2}
timeout=${BOBBIN_FUZZ_TIMEOUT:-30}
replays=${BOBBIN_FUZZ_REPLAYS:-50}

# clang first, then the runtime package of its own major version (libFuzzer, ASan, UBSan).
scripts/deps.sh clang
if command -v clang++ >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  major=$(clang++ -dumpversion | cut -d. -f1)
  scripts/deps.sh "libclang-rt-${major}-dev"
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"

bin=build/fuzz/tests/fuzz
logs=build/fuzz/logs
mkdir -p "$logs"
status=0

# 1. Every kept input must pass (README files beside them are not inputs).
for f in "${fuzzers[@]}"; do
  dir=tests/fuzz/regressions/$f
  [ -d "$dir" ] || continue
  inputs=()
  while IFS= read -r -d '' file; do inputs+=("$file"); done \
    < <(find "$dir" -maxdepth 1 -type f ! -iname 'README*' -print0 | sort -z)
  [ ${#inputs[@]} -gt 0 ] || continue
  if "$bin/$f" -runs="$replays" -timeout="$timeout" "${inputs[@]}" >"$logs/$f.replay.log" 2>&1; then
    echo "$f: ${#inputs[@]} regression input(s) pass (${replays} runs each)"
  else
    echo "$f: a regression input FAILED; see $logs/$f.replay.log" >&2
    tail -n 30 "$logs/$f.replay.log" >&2
    status=1
  fi
done

# 2. Fuzz each for the given time.
for f in "${fuzzers[@]}"; do
  corpus=build/fuzz/corpus/$f
  artifacts=build/fuzz/artifacts/$f
  mkdir -p "$corpus" "$artifacts"
  if [ -d "tests/fuzz/seeds/$f" ]; then
    find "tests/fuzz/seeds/$f" -maxdepth 1 -type f ! -iname 'README*' -exec cp -n -t "$corpus" {} +
  fi
  before=$(find "$artifacts" -type f | wc -l)
  log=$logs/$f.log
  rc=0
  start=$SECONDS
  "$bin/$f" -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  after=$(find "$artifacts" -type f | wc -l)

  runs=$(grep -Eo '^Done [0-9]+ runs' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(grep -Eo 'runs in [0-9]+ second' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  [ -n "$secs" ] || secs=$((SECONDS - start))  # stopped early: no "Done" line
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
    result="no findings"
  else
    result="FOUND SOMETHING (exit $rc; artifacts in $artifacts/, log $log)"
    status=1
  fi
  echo "$f: ${runs:-?} runs in $secs s, ${rate:-?} exec/s, corpus $size inputs: $result"
  if [ "$result" != "no findings" ]; then
    grep -E '^(fuzz_[a-z]+:|SUMMARY:|==[0-9]+==ERROR)' "$log" | head -n 5 >&2 || true
  fi
done
exit "$status"
