"""The vfs storage driver gives the same root filesystem as overlay (whiteouts, replaced dirs,
metadata changes), and leaves no sandbox mount point in its layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_context

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = """\
FROM busybox
RUN mkdir -p /d/sub && echo 1 > /d/one && echo 2 > /d/sub/two && echo 3 > /keep && ln -s /d/one /link
RUN rm -rf /d/sub && rm /keep && chmod 700 /d && echo changed > /d/one
RUN rm -rf /d && mkdir /d && echo new > /d/new && rm /bin/vi
COPY file.txt /copied/
RUN ln /copied/file.txt /copied/hard && mkfifo /fifo
"""


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            content = p.read_bytes() if p.is_file() and not p.is_symlink() else (
                os.readlink(p) if p.is_symlink() else None)
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, content)
    return out


def test_vfs_and_overlay_build_the_same_filesystem(tmp_path: Path) -> None:
    base_ctx = busybox_context(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "file.txt").write_text("hello\n")
    trees = {}
    for driver in ("overlay", "vfs"):
        root = tmp_path / f"root-{driver}"
        for args in (["bud", "-q", "-t", "busybox", str(base_ctx)],
                     ["bud", "-q", "-t", "t", "-o", f"type=local,dest={tmp_path / driver}", str(ctx)]):
            subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "--storage-driver", driver,
                            *args], check=True, capture_output=True)
        trees[driver] = _tree(tmp_path / driver)
    assert trees["vfs"] == trees["overlay"]
    t = trees["vfs"]
    assert "d/new" in t and "d/one" not in t and "keep" not in t and "bin/vi" not in t
    assert not any(k in t for k in ("proc", "sys", "dev", "etc/hosts", "etc/resolv.conf"))
