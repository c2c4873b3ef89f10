#!/usr/bin/env bash
# Builds (and with --push, pushes) the plugin's image, as the Go plugin's build.sh did:
#   deploy/build.sh [--ver v1] [--repo 127.0.0.1:5000] [--push]
# tags <repo>/maverikflats-device-plugin:<ver>. Needs a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=v1
repo=127.0.0.1:5000
push=false
while [ $# -gt 0 ]; do
  case "$1" in
    --ver) ver=${2:?--ver needs a value}; shift 2 ;;
    --repo) repo=${2:?--repo needs a value}; shift 2 ;;
    --push) push=true; shift ;;
    *) echo "usage: deploy/build.sh [--ver V] [--repo R] [--push]" >&2; exit 64 ;;
  esac
done
image=$repo/maverikflats-device-plugin:$ver
docker build -f deploy/Dockerfile -t "$image" .
echo "built $image"
if $push; then
  docker push "$image"
  echo "pushed $image"
fi
