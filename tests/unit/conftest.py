"""Fixtures of the unit tests that run the engine (tests/unit/test_engine_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.store import Store
from tests.build_helpers import vfs_store


@pytest.fixture(autouse=True)
def _no_user_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests read no one's registry credentials: the runtime-dir auth.json of a plain user
    without XDG_RUNTIME_DIR is /run/containers/UID/auth.json, under a directory root keeps 0700,
    and reading it would fail (or find the developer's logins). Tests of the lookup order
    delete or set the variable themselves."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-auth.json"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store with the vfs driver: builds over it need no mounts, hence no root."""
    return vfs_store(tmp_path / "store")
