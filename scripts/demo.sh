#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then shows the plugin
# end to end on a temporary fake node — the kubelet stand-in, the udma worker, the
# capacity table, one Allocate, the Unhealthy/Healthy flip and a kubelet restart — and
# cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
bin=${BUILD_DIR:-build}

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)  # only mknod needs root

node=$(mktemp -d /tmp/mvf-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${sudo[@]}" rm -rf "$node"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

# Prints what the kubelet stand-in wrote since the last call, once `pattern` shows up in
# it (10 s at most).
shown=0
show_kubelet_until() {
  local pattern=$1
  for _ in $(seq 100); do
    if tail -c +$((shown + 1)) "$node/kubelet.log" | grep -q -- "$pattern"; then break; fi
    sleep 0.1
  done
  tail -c +$((shown + 1)) "$node/kubelet.log" | sed 's/^/    /'
  shown=$(stat -c %s "$node/kubelet.log")
}

step "A fake node in $node: /dev/udmabuf (mknod c 1 3) under the host root, an empty plugin dir"
mkdir -p "$node/root/dev" "$node/kd"
"${sudo[@]}" mknod "$node/root/dev/udmabuf" c 1 3
ls -l "$node/root/dev/udmabuf" | sed 's/^/    /'

step "Start the kubelet stand-in (mvfctl kubelet) and the udma worker"
"$bin/supervisor/mvfctl" kubelet --dir "$node/kd" >"$node/kubelet.log" 2>&1 &
pids+=($!)
"$bin/workers/udma/mvf-worker-udma" --kubelet-dir "$node/kd" --host-root "$node/root" \
  --run-dir "$node/run" 2>"$node/worker.log" &
pids+=($!)
show_kubelet_until "intel.com/udma:  1k"

step "Allocate, as the kubelet calls it for a container with intel.com/udma: 1"
"$bin/supervisor/mvfctl" allocate --socket "$node/kd/udma.sock" udma-0 | sed 's/^/    /'

step "Remove /dev/udmabuf: all 1000 IDs stay listed, Unhealthy (allocatable 0)"
"${sudo[@]}" rm "$node/root/dev/udmabuf"
show_kubelet_until "1000 devices, 0 healthy"

step "Create it again: Healthy"
"${sudo[@]}" mknod "$node/root/dev/udmabuf" c 1 3
show_kubelet_until "1000 devices, 1000 healthy"

step "Restart the kubelet (it deletes every socket in the plugin dir): the worker registers again"
kill -HUP "${pids[0]}"
show_kubelet_until "1000 devices, 1000 healthy"

step "What the worker logged"
sed 's/^/    /' "$node/worker.log"

step "Done; stopping and removing $node"
