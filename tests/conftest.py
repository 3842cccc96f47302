"""Shared test fixtures and the markers for tests needing root or real components."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# the tests' RUN steps get a private-network bridge and subnet of their own, keyed by this
# checkout: a test run never shares netavark's state with real builds on the machine or with
# another checkout's run (scripts/fresh-check.sh beside a run on the host)
os.environ.setdefault("PYBUILD_NET_STATE",
                      f"/run/pybuild/net-tests-{hashlib.sha256(str(PROJECT).encode()).hexdigest()[:8]}")
SHARED = PROJECT.parent / "shared"
IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root (mounts, namespaces, chown)"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tear down the private networks the run's builds parked idle (their own state dir's): a
    test run leaves no bridge or namespace behind."""
    if IS_ROOT and Path(os.environ["PYBUILD_NET_STATE"], "setups").is_dir():
        from pybuild.builder.sandbox import network

        network.release_idle()


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
