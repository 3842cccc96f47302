#!/usr/bin/env bash
# The test suite: lint, type check, unit + integration tests (as root: real overlay,
# namespaces, runc, docker-registry), then the differential test against buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
ruff check pybuild tests benchmarks
mypy
python -m pytest -q -p no:cacheprovider tests
if [ -d ../shared/difftest ]; then
  python3 ../shared/difftest/difftest.py --pybuild "$PWD/.venv/bin/pybuild" ../shared/difftest/cases tests/difftest
else
  echo "../shared is absent: skipping the differential test against buildah"
fi
