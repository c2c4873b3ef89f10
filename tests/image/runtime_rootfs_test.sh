#!/usr/bin/env bash
# The image's runtime stage, proven without a Docker engine: deploy/runtime.sh assembles
# the same packages and binaries into a Debian 12 minbase rootfs; every binary's
# --version runs in it, then the supervisor runs in it under runc with the DaemonSet's
# restrictions — read-only root, no capabilities at all, no new privileges, the host's
# /dev and /sys read-only under /host — until its five workers register with the kubelet
# stand-in on the host. A runtime library missing from the package list fails here.
#
#   runtime_rootfs_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2 bin=$2/bin
command -v debootstrap >/dev/null && command -v runc >/dev/null ||
  { echo "needs debootstrap and runc (scripts/install-deps.sh installs them)"; exit 1; }

# The rootfs is cached per package list; the binaries are copied in fresh every run.
hash=$(sha256sum "$src/deploy/runtime-packages.txt" | cut -c1-12)
rootfs=${MVF_ROOTFS_CACHE:-/var/cache/mvf-rootfs}/bookworm-$hash
mkdir -p "$(dirname "$rootfs")"
# What the image gets: `cmake --install` of this build.
install=$(mktemp -d /tmp/mvfinstall.XXXXXX)
trap 'rm -rf "$install"' EXIT
cmake --install "$build" --prefix "$install" >/dev/null
"$src/deploy/runtime.sh" rootfs "$rootfs" "$install"

for binary in $(ls "$install/bin"); do
  out=$(chroot "$rootfs" "/usr/local/bin/$binary" --version 2>&1) ||
    { echo "FAIL $binary --version in the runtime rootfs: $out"; exit 1; }
  echo "ok   $out"
done

work=$(mktemp -d /tmp/mvfimg.XXXXXX)
id=mvf-image-test-$$
cleanup() {
  runc kill "$id" KILL 2>/dev/null || true
  runc delete --force "$id" 2>/dev/null || true
  [ -z "${kubelet:-}" ] || kill "$kubelet" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work" "$install"
}
trap cleanup EXIT
mkdir -p "$work/kd" "$work/bundle"
"$bin/mvfctl" kubelet --dir "$work/kd" >"$work/kubelet.log" 2>&1 &
kubelet=$!

cat >"$work/bundle/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "root": {"path": "$rootfs", "readonly": true},
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "cwd": "/",
    "env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
    "args": ["/usr/local/bin/mvf-supervisor", "--host-root", "/host", "--grace-period", "2s"],
    "noNewPrivileges": true,
    "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [],
                     "ambient": []}
  },
  "hostname": "mvf",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/run/mvf", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    {"destination": "/var/lib/kubelet/device-plugins", "type": "bind", "source": "$work/kd",
     "options": ["rbind", "rw"]},
    {"destination": "/host/dev", "type": "bind", "source": "/dev", "options": ["rbind", "ro"]},
    {"destination": "/host/sys", "type": "bind", "source": "/sys", "options": ["rbind", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
    "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

runc run --bundle "$work/bundle" "$id" >"$work/container.log" 2>&1 &
container=$!
for _ in $(seq 300); do
  registered=$(grep -c "^\[kubelet\] registered intel.com/" "$work/kubelet.log" || true)
  [ "$registered" -ge 5 ] && break
  kill -0 "$container" 2>/dev/null || break
  sleep 0.1
done
if [ "${registered:-0}" -lt 5 ]; then
  echo "FAIL the supervisor in the runtime rootfs did not get all five workers registered"
  cat "$work/kubelet.log" "$work/container.log"
  exit 1
fi
grep "^\[kubelet\] registered" "$work/kubelet.log" | sed 's/^/ok   /'
runc kill "$id" TERM
status=0
wait "$container" || status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL the supervisor exited $status on SIGTERM"; cat "$work/container.log"; exit 1
fi
leftover=$(find "$work/kd" -name '*.sock' ! -name kubelet.sock)
[ -z "$leftover" ] || { echo "FAIL sockets left behind: $leftover"; exit 1; }
echo "ok   SIGTERM: exit 0, no worker socket left"
