"""Several pybuild processes on one store at once: builds, pulls, tags and removals run side by
side and the store stays consistent (every name points at an image, every blob is whole)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_context, need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

PYB = [sys.executable, "-m", "pybuild"]


def test_parallel_processes_keep_the_store_consistent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = busybox_context(tmp_path)
    subprocess.run([*PYB, "--root", str(root), "bud", "-q", "-t", "busybox", str(base)], check=True,
                   capture_output=True)
    layout = tmp_path / "layout"
    subprocess.run([*PYB, "--root", str(root), "push", "busybox", f"oci:{layout}:bb"], check=True,
                   capture_output=True)
    procs = []
    for i in range(4):
        ctx = tmp_path / f"ctx{i}"
        ctx.mkdir()
        (ctx / "f").write_text(f"file {i}\n")
        # two pairs build the same thing: they race for the same layers and cache keys
        (ctx / "Containerfile").write_text(f"FROM busybox\nCOPY f /f\nRUN echo {i % 2} > /n && sleep 0.2\n")
        procs.append(subprocess.Popen([*PYB, "--root", str(root), "bud", "-q", "-t", f"img{i}", str(ctx)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for _ in range(2):
        procs.append(subprocess.Popen([*PYB, "--root", str(root), "pull", f"oci:{layout}:bb"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    procs.append(subprocess.Popen([*PYB, "--root", str(root), "tag", "busybox", "extra-name"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    images = json.loads(subprocess.run([*PYB, "--root", str(root), "images", "--json"], check=True,
                                       capture_output=True, text=True).stdout)
    names = {n for img in images for n in img["names"]}
    assert {f"localhost/img{i}:latest" for i in range(4)} <= names
    assert "localhost/extra-name:latest" in names
    for img in images:
        subprocess.run([*PYB, "--root", str(root), "inspect", img["id"]], check=True, capture_output=True)
    for blob in (root / "blobs" / "sha256").iterdir():
        if not blob.name.startswith("."):
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    need_tool("umoci")
    # every image still exports
    for i in range(4):
        subprocess.run([*PYB, "--root", str(root), "push", f"img{i}", f"oci:{tmp_path}/out:img{i}"], check=True,
                       capture_output=True)
