#!/usr/bin/env bash
# Installs what is missing and builds everything into build/ (override with BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DMVF_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
