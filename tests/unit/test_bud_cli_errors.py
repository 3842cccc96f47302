"""Flag mistakes in `pybuild bud` are one-line errors before anything is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("args, needle", [
    (["--output", "type=weird"], "invalid --output 'type=weird'"),
    (["--network", "bridge"], "--network bridge: unknown network mode"),
    (["--platform", "linux/amd64,linux/sparc"], "--platform linux/sparc: unknown architecture 'sparc'"),
    (["--pull=sometimes"], "invalid --pull"),
    (["--build-arg-file", "/nonexistent/args"], "--build-arg-file /nonexistent/args"),
    (["--secret", "id=x"], "src= is missing"),
])
def test_bad_flags_fail_before_the_build(tmp_path: Path, args: list[str], needle: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM scratch\nRUN false\n")
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", *args, str(ctx)],
                          capture_output=True, text=True)
    assert proc.returncode == 125
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "STEP" not in proc.stdout
