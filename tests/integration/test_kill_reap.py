"""A build killed mid-RUN leaves no step running and nothing mounted once the next pybuild
command opens the store: with runc, the step would otherwise outlive pybuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import busybox_context, need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]


def _step_pids(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("isolation", ["oci", "chroot"])
def test_killed_build_leaves_no_running_step(tmp_path: Path, isolation: str) -> None:
    if isolation == "oci":
        need_tool("runc")
    root = tmp_path / "root"
    subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-q", "-t", "busybox",
                    str(busybox_context(tmp_path))], check=True, capture_output=True)
    marker = f"sleep 3{os.getpid() % 10}{len(isolation)}7"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM busybox\nRUN {marker}\n")
    proc = subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "--isolation",
                             isolation, "-t", "killed", str(ctx)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _step_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _step_pids(marker), "the RUN step never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "images"], check=True,
                   capture_output=True)
    deadline = time.monotonic() + 10
    while _step_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _step_pids(marker) == []
    with open("/proc/self/mountinfo") as f:
        assert str(root) not in f.read()
    assert list((root / "tmp").iterdir()) == []
