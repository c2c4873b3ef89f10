#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then shows the plugin at
# work on a temporary fake node with all five device classes — the kubelet stand-in, the
# supervisor and its five workers, the capacity table, one Allocate per resource (with
# CDI on, as the chart runs it), a few Prometheus metric lines, the vfio worker's CDI
# spec, which pod holds which device (mvfctl allocations), the supervisor's status, a
# worker killed and back — and cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the fake node needs mknod: running as root through sudo"
  exec sudo "$0" "$@"
fi
scripts/build.sh >/dev/null
bin=${BUILD_DIR:-build}/bin

pids=()
node=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$node" ] || rm -rf "$node"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
indent() { sed 's/^/    /'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Waits (10 s at most) until the kubelet stand-in's output has `pattern` `count` times.
await_kubelet() {
  local pattern=$1 count=${2:-1}
  for _ in $(seq 200); do
    [ "$(grep -c -- "$pattern" "$work/kubelet.log" || true)" -ge "$count" ] && return 0
    sleep 0.05
  done
  echo "demo: timed out waiting for '$pattern'" >&2
  return 1
}

step "A fake node with all five device classes"
work=$(mktemp -d /tmp/mvf-demo.XXXXXX)
"$bin/mvf-fake-node" >"$work/node" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/node" ] && break; sleep 0.05; done
node=$(cat "$work/node")
root=$node/root
cat <<EOF | indent
host root $root:
  /tmp/.X11-unix/X0   an X display socket that accepts connections
  /dev/udmabuf        a character device
  /dev/vfio/7         IOMMU group 7: 0000:00:07.0, bound to vfio-pci (+ /dev/vfio/vfio)
  /dev/dri/card1      the Intel iGPU 0000:00:02.0: card1 and renderD128, found through sysfs
  /dev/dri/renderD128
  /dev/bus/usb/001/*  two USB devices, at ports 1-1 and 1-2
EOF

step "The kubelet stand-in, and mvf-supervisor starting one worker per resource"
# The stand-in also serves the kubelet's pod-resources API, and takes "allocate for a
# pod's container" commands on its stdin, a FIFO this script holds open on fd 4.
mkfifo "$work/kubelet.in"
exec 4<>"$work/kubelet.in"
"$bin/mvfctl" kubelet --dir "$node/kd" --pod-resources-socket "$node/pod-resources/kubelet.sock" \
  <"$work/kubelet.in" >"$work/kubelet.log" 2>&1 &
pids+=($!)
metrics_port=9470
# CDI as the chart runs it, with the owner and mode KubeVirt's QEMU (uid/gid 107) needs;
# the specs go to a dir of the fake node instead of the host's /var/run/cdi.
mkdir -p "$node/cdi"
"$bin/mvf-supervisor" --kubelet-dir "$node/kd" --host-root "$root" --run-dir "$node/run" \
  --status-socket "$node/run/status.sock" --cdi-dir "$node/cdi" --cdi-devices cri \
  --cdi-node-gid 107 --cdi-node-file-mode 0660 --metrics-address "127.0.0.1:$metrics_port" \
  2>"$work/supervisor.log" &
pids+=($!)
for resource in x11 udma vfio igpu usb; do await_kubelet "intel.com/$resource: 1000 devices, 1000 healthy"; done
echo "What the kubelet now reports, as 'kubectl describe node' shows it:" | indent
# The stand-in prints the table after every change; show its last one.
awk '/^Capacity:/ {table = ""; in_table = 1}
     in_table && /^(Capacity:|Allocatable:|  )/ {table = table $0 "\n"; next}
     {in_table = 0}
     END {printf "%s", table}' "$work/kubelet.log" | indent

step "Allocate, as the kubelet calls it for a container that asks for one of each"
echo "cdiDevices name each unit in the workers' CDI specs; a runtime without CDI uses the" | indent
echo "device specs, one with CDI applies the spec's edits over them (owner and mode included)" | indent
for resource in x11 udma vfio igpu usb; do
  printf '    intel.com/%-5s %s\n' "$resource" \
    "$("$bin/mvfctl" allocate "$resource" "$resource-0" --kubelet-dir "$node/kd" |
      tr -d '\n' | tr -s ' ' | sed 's/^{ "containerResponses": \[ //; s/ \]}$//')"
done

step "Prometheus metrics (http://127.0.0.1:$metrics_port/metrics, a few of its lines)"
# bash's /dev/tcp: no HTTP client needed on a fresh machine.
scrape() {
  exec 3<>"/dev/tcp/127.0.0.1/$metrics_port" || return 1
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  cat <&3
  exec 3<&-
}
# The workers' counts reach the supervisor a moment after the Allocates.
for _ in $(seq 100); do
  metrics=$(scrape 2>/dev/null) || break
  grep -q '^mvf_allocate_requests_total{code="OK",resource="intel.com/usb"}' <<<"$metrics" && break
  sleep 0.05
done
if [ -n "${metrics:-}" ]; then
  grep -E '^mvf_(worker_up|devices_healthy|allocate_requests_total|registrations_total)\{' \
    <<<"$metrics" | grep -E 'udma|vfio' | indent
  echo "... $(grep -c '^mvf_' <<<"$metrics") mvf_ series in all (README, \"Metrics\")" | indent
else
  echo "port $metrics_port is taken here: see mvfctl status below for the metrics' state" | indent
fi

step "The CDI spec the vfio worker keeps ($node/cdi/intel.com-vfio.json)"
indent <"$node/cdi/intel.com-vfio.json"
echo "(fileMode 432 is 0660; ls -l of the spec dir:)" | indent
ls -l "$node/cdi" | sed 1d | awk '{print $1, $NF}' | indent

step "Who holds what (mvfctl allocations), after the kubelet allocated for two pods"
echo "allocate intel.com/vfio default/desktop-vm/compute vfio-0" >&4
echo "allocate intel.com/udma default/desktop-vm/compute udma-0" >&4
echo "allocate intel.com/usb kiosk/scanner/app usb-0" >&4
await_kubelet "allocated intel.com/usb"
"$bin/mvfctl" allocations --pod-resources-socket "$node/pod-resources/kubelet.sock" \
  --status-socket "$node/run/status.sock" | indent

step "The supervisor's status (mvfctl status)"
"$bin/mvfctl" status --status-socket "$node/run/status.sock" | indent

vfio=$(pgrep -f "mvf-worker-vfio .*$node/kd" | head -1)
step "Kill the vfio worker (SIGKILL pid $vfio): the supervisor restarts it alone"
killed=$(now_ms)
kill -KILL "$vfio"
await_kubelet "registered intel.com/vfio" 2
echo "intel.com/vfio registered again $(($(now_ms) - killed)) ms after the kill" | indent
for resource in x11 udma igpu usb; do
  registrations=$(grep -c "registered intel.com/$resource " "$work/kubelet.log" || true)
  ended=$(grep -c "ListAndWatch of intel.com/$resource ended" "$work/kubelet.log" || true)
  echo "intel.com/$resource: registered $registrations time(s), stream ended $ended time(s)" | indent
done
sleep 0.2
"$bin/mvfctl" status --status-socket "$node/run/status.sock" | indent

step "Done: stopping the supervisor (its workers remove their sockets) and removing the node"
