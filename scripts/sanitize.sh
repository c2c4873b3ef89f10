#!/usr/bin/env bash
# Builds with sanitizers and runs the tests they can judge (README, "Sanitizers and
# fuzzing"). Any report fails: the script exits non-zero.
#   scripts/sanitize.sh address   ASan + UBSan (build-asan/): every unit and integration test
#   scripts/sanitize.sh thread    TSan (build-tsan/): the tests of what shares state across
#                                 threads without gRPC in between
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
[ $# -gt 0 ] && shift
case "$kind" in
  address) build=build-asan sanitize=address,undefined ;;
  thread) build=build-tsan sanitize=thread ;;
  *)
    echo "usage: scripts/sanitize.sh address|thread [ctest arguments]" >&2
    exit 2
    ;;
esac
scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DMVF_WERROR=ON -DMVF_SANITIZE="$sanitize" \
  >/dev/null

# Processes the tests start write their reports here, a file per test
# (tests/support/sanitizer_reports.cpp), which fails that test; whatever lands here
# after its test ended (a grandchild's) fails the run below.
reports=$PWD/$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
export MVF_SANITIZER_REPORTS=$reports
supp=$PWD/scripts/sanitizers

if [ "$kind" = address ]; then
  cmake --build "$build" -j"$(nproc)" --target mvf_unit_tests mvf_integration_tests mvf_deploy_tests
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  ctest --test-dir "$build" --output-on-failure -L 'unit|integration' -j"$(nproc)" "$@"
else
  # Only the unit tests: the integration tests' processes are mostly gRPC's threads, whose
  # synchronization TSan cannot see (Debian's gRPC is not instrumented).
  cmake --build "$build" -j"$(nproc)" --target mvf_unit_tests
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
  # What shares state across threads and what TSan can judge there: the inventory's
  # snapshots and Allocate against a rescan, the stream schedule, the worker's metrics
  # and its notify path (posted to the event loop from any thread), the event loop, the
  # large-call lane of rpc/async_server.h.
  tests='^(InventoryTest|RecheckTest|PreferredAllocationTest|InventoryThreads|StreamScheduleTest'
  tests+='|WorkerMetricsTest|WorkerMetricsThreads|EventLoop|LargeCallLaneTest)\.'
  # Not the tests that Allocate and GetPreferredAllocation stay linear on 300 000 IDs: one
  # thread, so nothing for TSan to judge, and its 5-15x slowdown would pass their timeout.
  ctest --test-dir "$build" --output-on-failure -L unit -R "$tests" -E 'IsLinear' \
    -j"$(nproc)" "$@"
fi

shopt -s nullglob
late=("$reports"/*)
if [ ${#late[@]} -gt 0 ]; then
  echo "FAILED: sanitizer reports:" >&2
  for report in "${late[@]}"; do
    echo "== $report" >&2
    cat "$report" >&2
  done
  exit 1
fi
echo "sanitize.sh $kind: no sanitizer report"
