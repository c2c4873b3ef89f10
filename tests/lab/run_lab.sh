#!/usr/bin/env bash
# ctest -L lab: runs mvf_lab_tests inside the device lab's QEMU guest. A lab that fails
# to boot (run-in-guest.sh's exit code 125, which the tests never use) is retried once,
# then the run fails loudly.
#   run_lab.sh LAB_DIR BUILD_DIR
set -u
lab=$1 build=$2
for attempt in 1 2; do
  "$lab/run-in-guest.sh" --timeout 840 "$build" ./bin/mvf_lab_tests --gtest_color=no
  rc=$?
  [ "$rc" -eq 125 ] || exit "$rc"
  echo "run_lab.sh: the device lab failed to boot (attempt $attempt of 2)" >&2
done
echo "run_lab.sh: FAILED: the device lab did not boot, twice in a row" >&2
exit 1
