"""The soak, bounded for CI: 20 random SIGKILLs across bud, pull, push, commit, rmi and
prune, then 4 concurrent builds beside tag/rmi/prune loops; the store must then check
clean (every record's blobs whole, names on images, no leftovers, mounts or processes)
and the next bud and push succeed. scripts/soak.sh runs the long version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import busybox_context
from tests.soak import run_soak

pytestmark = [pytest.mark.root, pytest.mark.integration]


def test_soak_kills_and_concurrent_builds_leave_a_consistent_store(tmp_path: Path) -> None:
    seed = int(os.environ.get("PYBUILD_SOAK_SEED", "11"))
    report = run_soak(tmp_path, busybox_context(tmp_path), kills=20, rounds=1, builds=4, seed=seed)
    print("\n".join(report.lines()))
    assert sum(report.kills.values()) == 20, report.lines()
    assert report.ok(), "\n".join(report.lines())
