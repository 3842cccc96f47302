"""Helpers for the working-container tests: a busybox base image built from Debian's
busybox-static (no registry needed), the pybuild command, and what an image holds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import busybox_context  # noqa: F401 - re-exported for the tests

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT / "examples"
APP = EXAMPLES / "Containerfiles" / "app"


def pybuild(root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (``python -m pybuild`` so the tested tree is the one run)."""
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, env=env, cwd=cwd, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"pybuild {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], object], what: str, settle: float = 0.0) -> None:
    """SIGKILL ``proc``'s process group once ``ready()`` is true (a build mid-step), as a CI
    runner's timeout would; fails if it ends or takes a minute first."""
    import signal
    import time

    try:
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline and proc.poll() is None, f"the step never got {what}"
            time.sleep(0.1)
        time.sleep(settle)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def clone_store(template: Path, dest: Path) -> Path:
    """A private copy of a store (cp -a keeps device nodes and xattrs), so tests stay independent."""
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
    return dest


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root`` with what a user sees of it (not mtimes)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path), st.st_uid, st.st_gid)
            elif os.path.isdir(path):
                out[rel] = ("dir", oct(st.st_mode), st.st_uid, st.st_gid)
            else:
                with open(path, "rb") as f:
                    data = f.read()
                out[rel] = ("file", oct(st.st_mode), st.st_uid, st.st_gid, data)
    return out


def is_mounted(path: Path | str) -> bool:
    target = os.path.abspath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def disk_usage(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def busybox_store(tmp: Path) -> Path:
    """A store under ``tmp`` holding busybox (built offline), for a module's tests to clone."""
    root = tmp / "store"
    pybuild(root, "bud", "-q", "-t", "busybox", str(busybox_context(tmp)))
    return root
