"""Helpers for sandbox tests: a tiny busybox rootfs and the mount-point stubs a step needs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pybuild.builder.sandbox import RunSpec, stub_paths

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "id", "ls", "true", "false", "grep", "hostname", "sleep", "mkdir", "touch",
           "wc", "readlink", "env", "pwd", "chroot", "stat", "head")


def need_tool(name: str) -> str:
    """Skip the calling test unless ``name`` is on PATH (as tests/conftest.py's helper does)."""
    import pytest

    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


def make_rootfs(root: Path) -> Path:
    """A rootfs holding only the static busybox and its applet links under /bin."""
    if not os.path.exists(BUSYBOX):
        import pytest

        pytest.skip("static busybox is not installed (apt-get install busybox-static)")
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    return root


def prepare_stubs(rootfs: str | Path, spec: RunSpec) -> None:
    """Create the mount points ``spec`` needs (the working container's job in a real build)."""
    for path, is_dir in stub_paths(spec):
        host = Path(rootfs) / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        if is_dir:
            host.mkdir(exist_ok=True)
        elif not host.exists():
            host.touch()


def snapshot(root: Path) -> dict[str, tuple[int, int, int, float]]:
    """Every entry under ``root`` with mode, size, uid and mtime: to prove nothing was written."""
    out: dict[str, tuple[int, int, int, float]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_uid, st.st_mtime)
    st = os.lstat(root)
    out["."] = (st.st_mode, st.st_size, st.st_uid, st.st_mtime)
    return out


class Collector:
    """An ``output`` callback that keeps what a step printed."""

    def __init__(self) -> None:
        self.data = b""

    def __call__(self, chunk: bytes) -> None:
        self.data += chunk

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")
