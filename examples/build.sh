#!/usr/bin/env bash
# The example app built with buildah-style working-container verbs instead of a
# Containerfile: the same image as examples/Containerfiles/app/Containerfile.
# Needs a `busybox` image in the store (examples/run-example.sh makes one).
# Usage: examples/build.sh [IMAGE]   (the store is $PYBUILD_ROOT, or the default)
set -euo pipefail
cd "$(dirname "$0")/Containerfiles/app"
image=${1:-app}

ctr=$(pybuild from busybox)
trap 'pybuild rm "$ctr" >/dev/null 2>&1 || true' EXIT   # on failure; commit --rm does it otherwise
pybuild run "$ctr" -- sh -c 'mkdir -p /var/lib/app && echo built > /var/lib/app/stamp'
pybuild copy "$ctr" ./app /app
pybuild config --env APP_HOME=/app --env GREETING=hello \
    --label org.opencontainers.image.title=app \
    --workingdir /app --port 8080 --cmd '["/app/run"]' "$ctr"
pybuild commit --rm "$ctr" "$image"
trap - EXIT
