#!/usr/bin/env bash
# The main job: build a busybox base from Debian's busybox-static, build the example
# Containerfile on it (RUN steps in a sandbox, two stages), export the image as an OCI
# layout, unpack it with umoci and run it with runc. Offline; as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${PYBUILD_ROOT:-/var/lib/pybuild}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp /bin/busybox "$work/busybox"
cp examples/Containerfiles/busybox/Containerfile "$work/"
pybuild --root "$ROOT" bud -t busybox "$work"
pybuild --root "$ROOT" bud -t hello --build-arg GREETING=Hello examples/Containerfiles/hello
pybuild --root "$ROOT" images
pybuild --root "$ROOT" push hello "oci:$work/layout:hello"
umoci unpack --image "$work/layout:hello" "$work/bundle" >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["process"]["terminal"] = False
json.dump(c, open(p, "w"))
PY
runc run --bundle "$work/bundle" "pybuild-example-$$"
