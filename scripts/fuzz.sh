#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14, ASan and UBSan into build-fuzz/, and
# runs each for a bounded time from its corpus in fuzz/corpus/<target> (README,
# "Sanitizers and fuzzing"). A crash, a hang (one input over 10 s), a leak, a sanitizer
# report or a broken invariant fails the run; its input is kept in build-fuzz/findings/.
# New inputs the fuzzer finds go to build-fuzz/corpus/, never into the repo's corpus.
#   scripts/fuzz.sh [seconds per target, default 20] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
[ $# -gt 0 ] && shift
scripts/install-deps.sh clang-14 libclang-rt-14-dev libfuzzer-14-dev
build=build-fuzz
began=$SECONDS
# -O1: the usual compromise for fuzzing, fast enough to run and to build.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DMVF_WERROR=ON -DMVF_FUZZ=ON \
  -DMVF_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j"$(nproc)" --target mvf_fuzzers
echo "fuzz.sh: built in $((SECONDS - began)) s"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
rm -rf "$build/findings"
mkdir -p "$build/findings" "$build/logs"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
failed=()
for target in "${targets[@]}"; do
  mkdir -p "$build/corpus/$target"
  log=$build/logs/$target.log
  if "$build/bin/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$PWD/$build/findings/$target-" \
    "$build/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz.sh: $target: $runs executions in ${seconds} s, no finding"
  else
    echo "FAILED: fuzz.sh: $target (log: $log):" >&2
    tail -n 60 "$log" >&2
    failed+=("$target")
  fi
done
echo "fuzz.sh: total $((SECONDS - began)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: fuzz.sh: findings in ${failed[*]} (inputs in $build/findings/)" >&2
  exit 1
fi
