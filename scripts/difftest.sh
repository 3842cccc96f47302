#!/usr/bin/env bash
# The differential test against buildah: ../shared/difftest/cases (with the corrections in
# tests/difftest-overrides/, each explained in its own file) and pybuild's own cases in
# tests/difftest/. Prints "N passed, M failed" last; exit status 0 only when all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/difftest
if [ ! -d "$shared" ]; then
  echo "../shared is absent: skipping the differential test against buildah"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$shared/cases" "$work/cases"
chmod -R u+w "$work/cases"
for o in tests/difftest-overrides/*/; do
  [ -d "$o" ] || continue  # no overrides at all
  cp -r "$o". "$work/cases/$(basename "$o")/"
done
pybuild=${PYBUILD:-$(command -v pybuild)}
python3 "$shared/difftest.py" --pybuild "$pybuild" "$work/cases" tests/difftest
