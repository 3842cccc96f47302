"""Mistakes a Containerfile can make at build time name the file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox(tmp_path_factory.mktemp("user-errors"))[0]


@pytest.mark.parametrize("text, line, needle", [
    ("FROM busybox\nUSER ghost\nRUN true\n", 3, "unknown user 'ghost'"),
    ("FROM busybox\nCOPY --chown=ghost Containerfile /x\n", 2, "--chown: unknown user 'ghost'"),
    ("FROM busybox\nRUN --mount=type=secret,id=tok,required=true true\n", 2, "secret 'tok' is required"),
])
def test_error_names_the_line(root: Path, tmp_path: Path, text: str, line: int, needle: str) -> None:
    (tmp_path / "Containerfile").write_text(text)
    before = (root / "images.json").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-q", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    [err] = proc.stderr.strip().splitlines()
    assert f"Containerfile:{line}:" in err and needle in err, err
    assert (root / "images.json").read_bytes() == before
