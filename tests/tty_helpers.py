"""Run a command with its stderr on a pseudo-terminal and read it as a terminal shows it
(pyte, a VT100 emulator): the screens seen while it ran, and the last one."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field

import pytest


@dataclass
class TtyRun:
    status: int
    stdout: bytes
    raw: bytes  # what went to the terminal
    screens: list[list[str]] = field(default_factory=list)  # the screen after each read

    @property
    def final(self) -> list[str]:
        return self.screens[-1] if self.screens else []


def run_on_tty(argv: list[str], *, columns: int = 120, lines: int = 40, timeout: float = 300,
               env: dict[str, str] | None = None) -> TtyRun:
    """``argv`` with stderr on a ``columns`` x ``lines`` pty (stdout a pipe, no $CI)."""
    pyte = pytest.importorskip("pyte", reason="pyte is not installed (pip install pyte)")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k != "CI"}
    full_env.update(env or {})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=full_env)
    os.close(slave)
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    raw = bytearray()
    screens: list[list[str]] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    out_fd = proc.stdout.fileno()
    stdout = bytearray()
    open_fds = {master, out_fd}
    try:
        while open_fds and time.monotonic() < deadline:
            ready, _, _ = select.select(list(open_fds), [], [], 0.5)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the pty's other side closed
                    chunk = b""
                if not chunk:
                    open_fds.discard(fd)
                elif fd == master:
                    raw += chunk
                    stream.feed(chunk)
                    screens.append([line.rstrip() for line in screen.display])
                else:
                    stdout += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        status = proc.wait(timeout=30)
        os.close(master)
        proc.stdout.close()
    assert not open_fds, f"{argv} did not finish in {timeout}s"
    return TtyRun(status, bytes(stdout), bytes(raw), screens)
