#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build and test mvf-device-plugin. Checks
# first and installs only what is missing, so a second run takes a moment. Arguments are
# more packages to install the same way.
set -euo pipefail

packages=(
  # toolchain
  cmake g++ make pkg-config
  # libraries (all from Debian 12; nothing vendored or downloaded)
  libgrpc++-dev libabsl-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libspdlog-dev nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev
  # tests (the image's runtime stage is assembled with debootstrap and run under runc)
  libgtest-dev libgmock-dev debootstrap runc
  # the CDI schema test: the CDI project's JSON schema, checked with Debian's jsonschema
  golang-github-container-orchestrated-devices-container-device-interface-dev
  python3 python3-jsonschema
  # the metrics test: Prometheus' own text parser
  python3-prometheus-client
)
# More for one script's own needs (scripts/fuzz.sh: clang and libFuzzer).
packages+=("$@")

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
