"""`bud --explain-cache` says which input of a step changed when it misses the cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_context

pytestmark = [pytest.mark.root, pytest.mark.integration]


def _pyb(root: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), *args], check=True,
                          capture_output=True, text=True).stdout


def test_a_miss_names_the_changed_input(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = busybox_context(tmp_path)
    _pyb(root, "bud", "-q", "-t", "busybox", str(base))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nARG V=1\nCOPY a /a\nRUN cat /a > /b\n")
    (ctx / "a").write_text("one\n")
    _pyb(root, "bud", "-q", "-t", "x", str(ctx))
    (ctx / "a").write_text("two\n")
    out = _pyb(root, "bud", "--explain-cache", "-t", "x", str(ctx))
    assert "Cache miss: changed since the cached build: sources" in out
    out = _pyb(root, "bud", "--explain-cache", "--build-arg", "V=2", "-t", "x", str(ctx))
    assert "changed since the cached build: values" in out  # the ARG's value
