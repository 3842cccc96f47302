"""Shared test fixtures and the markers for tests needing root or real components."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SHARED = PROJECT.parent / "shared"
IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root (mounts, namespaces, chown)"))


def need_tool(name: str) -> str:
    """Skip the calling test unless ``name`` is on PATH; return its path."""
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


def busybox_context(tmp: Path) -> Path:
    """A build context for examples/Containerfiles/busybox (its Containerfile and a copy of
    the static busybox): the base image every build test stands on, made offline."""
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    ctx = tmp / "busybox-ctx"
    ctx.mkdir(parents=True)
    shutil.copy2(busybox, ctx / "busybox")
    shutil.copy2(PROJECT / "examples" / "Containerfiles" / "busybox" / "Containerfile", ctx / "Containerfile")
    return ctx


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the project's shared/ folder is not beside this clone)")
    return SHARED
