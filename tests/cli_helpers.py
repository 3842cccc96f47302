"""Helpers for tests that drive the `pybuild` command line: run it, build the busybox base,
list images and blobs, corrupt a blob on purpose."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import busybox_context

PYBUILD = [sys.executable, "-m", "pybuild"]
PROJECT = Path(__file__).resolve().parent.parent


def pyb(root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pybuild --root ROOT ARGS``; fails the test with the output when ``check``."""
    import os

    proc = subprocess.run([*PYBUILD, "--root", str(root), *args], capture_output=True, text=True, input=input,
                          env={**os.environ, "CI": "1", **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"pybuild {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    proc = subprocess.run(["skopeo", *args], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def build_busybox(work: Path) -> tuple[Path, str]:
    """A store under ``work/root`` holding ``busybox`` built from /bin/busybox; (root, image ID)."""
    ctx = busybox_context(work)
    root = work / "root"
    out = pyb(root, "bud", "-q", "-t", "busybox", str(ctx))
    return root, out.stdout.strip().splitlines()[-1]


def images(root: Path) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(pyb(root, "images", "--json").stdout)
    return result


def blob_files(root: Path) -> set[str]:
    d = root / "blobs" / "sha256"
    return {p.name for p in d.iterdir() if not p.name.startswith(".")} if d.is_dir() else set()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def corrupt_biggest_layer(layout: Path) -> str:
    """Flip a byte in the largest layer blob of the first image of an OCI layout; its digest."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = max(manifest["layers"], key=lambda d: d["size"])
    blob = layout / "blobs/sha256" / layer["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    return str(layer["digest"])
