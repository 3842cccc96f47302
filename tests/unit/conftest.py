"""Fixtures of the unit tests that run the engine (tests/unit/test_engine_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.store import Store
from tests.build_helpers import vfs_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store with the vfs driver: builds over it need no mounts, hence no root."""
    return vfs_store(tmp_path / "store")
