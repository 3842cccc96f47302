#!/usr/bin/env bash
# The test suite: lint, type check, unit + integration tests (as root: real overlay,
# namespaces, runc, docker-registry), then the differential test against buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
ruff check pybuild tests benchmarks
mypy
python -m pytest -q -p no:cacheprovider tests
PYBUILD="$PWD/.venv/bin/pybuild" bash scripts/difftest.sh
