#!/usr/bin/env bash
# The long store soak, run by hand (CI runs a bounded one: tests/integration/test_store_soak.py):
# random SIGKILLs across bud, pull, push, commit, rmi and prune, then concurrent builds beside
# tag/rmi/prune loops, then a check of the store (records, blobs, names, leftovers, mounts,
# processes) and a bud + push. Prints the figures; exit status 0 only when all is clean.
#   scripts/soak.sh [--kills 160] [--rounds 3] [--builds 8] [--seed N]     (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m tests.soak --work "$work" "$@"
