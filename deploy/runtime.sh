#!/usr/bin/env bash
# Assembles the plugin's runtime filesystem, one way for the image and the test:
#
#   runtime.sh packages                 install the runtime packages into this system
#                                       (the Dockerfile's runtime stage, Debian 12 slim)
#   runtime.sh binaries PREFIX DEST     copy what `cmake --install` put in PREFIX (bin/,
#                                       lib/) into DEST/usr/local
#   runtime.sh rootfs DIR PREFIX        a Debian 12 minbase rootfs in DIR with the same
#                                       packages and binaries (debootstrap; the mirror is
#                                       the one this machine's apt uses)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
packages() { grep -v '^#' "$here/runtime-packages.txt" | grep -v '^$'; }

# The Debian mirror apt uses here: deb822 .sources files (Debian 12's default) first,
# then a classic sources.list.
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
    /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "runtime.sh: no bookworm mirror in the apt configuration" >&2; exit 1; }
  echo "$uri"
}

case "${1:-}" in
  packages)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2046
    apt-get install -y -qq --no-install-recommends $(packages)
    rm -rf /var/lib/apt/lists/*
    ;;
  binaries)
    prefix=$2 dest=$3
    mkdir -p "$dest/usr/local/bin" "$dest/usr/local/lib"
    install -m 0755 "$prefix"/bin/* "$dest/usr/local/bin/"
    install -m 0644 "$prefix"/lib/*.so "$dest/usr/local/lib/"
    # Found through ld.so.cache too, not only the RUNPATH: $ORIGIN needs /proc mounted.
    /sbin/ldconfig -r "$dest"
    ;;
  rootfs)
    dir=$2 prefix=$3
    if [ ! -x "$dir/usr/bin/apt-get" ]; then
      debootstrap --variant=minbase --include="$(packages | paste -sd, -)" bookworm "$dir" \
        "$(mirror)" >"$dir.debootstrap.log" 2>&1 ||
        { tail -20 "$dir.debootstrap.log" >&2; exit 1; }
    fi
    "$0" binaries "$prefix" "$dir"
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 64
    ;;
esac
