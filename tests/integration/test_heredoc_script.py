"""RUN <<EOF with a #! line runs as a file at /dev/pipes/NAME under both isolations, with the
interpreter it names, and leaves nothing of /dev in the image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_context

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = """FROM busybox
RUN <<SCRIPT
#!/bin/awk -f
BEGIN { print "awk ran as " ARGV[0] > "/awk.txt" }
SCRIPT
RUN <<EOF
#!/bin/sh
echo "$0" > /zero.txt
EOF
"""


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_shebang_heredoc_runs_as_a_file(tmp_path: Path, isolation: str) -> None:
    root = tmp_path / "root"
    subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-q", "-t", "busybox",
                    str(busybox_context(tmp_path))], check=True, capture_output=True)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-q", "--isolation",
                           isolation, "-o", f"type=local,dest={out}", str(ctx)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "awk.txt").read_text().startswith("awk ran as")
    assert (out / "zero.txt").read_text() == "/dev/pipes/EOF\n"
    assert not (out / "dev").exists()
