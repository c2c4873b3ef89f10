#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test
# (unit and integration). Extra arguments go to ctest, e.g. -L unit or -R Udma.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -L 'unit|integration' -j"$(nproc)" "$@"
