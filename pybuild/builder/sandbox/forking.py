"""Forking a sandbox helper child that reports on a status pipe (the chroot child, the runc monitor).

The child gets the write ends of a close-on-exec status pipe and, when output is
captured, of an output pipe; the parent reads output to EOF, then the status. Forks
happen under one lock so concurrent steps never inherit each other's pipe ends (a
stray writer would keep a pipe from ever reaching EOF). Between fork and execve a
child runs only code and data prepared by the parent (no imports, no allocation-heavy
work): a forked copy of a threaded interpreter must not touch locks other threads held.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

FORK_LOCK = threading.Lock()


class Child:
    """A forked child and the read ends of its pipes (``out_r`` -1 when output is not captured).
    (A plain class: a dataclass costs more to make at import than a step uses it.)"""

    def __init__(self, pid: int, status_r: int, out_r: int) -> None:
        self.pid = pid
        self.status_r = status_r
        self.out_r = out_r
        self.reaped = False

    def wait(self) -> int:
        """Wait for the child; its wait status."""
        _, wstatus = os.waitpid(self.pid, 0)
        self.reaped = True
        return wstatus


@contextlib.contextmanager
def forked(child: Callable[[int, int], NoReturn], capture: bool) -> Iterator[Child]:
    """Fork; the child runs ``child(status_w, out_w)`` (``out_w`` -1 unless ``capture``). On
    leaving, the pipes are closed and a child not waited for is killed and reaped."""
    with FORK_LOCK:
        status_r, status_w = os.pipe()
        out_r, out_w = os.pipe() if capture else (-1, -1)
        try:
            pid = os.fork()
        except OSError:
            for fd in (status_r, status_w, out_r, out_w):
                if fd >= 0:
                    os.close(fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child
            child(status_w, out_w)
        os.close(status_w)
        if out_w >= 0:
            os.close(out_w)
    proc = Child(pid, status_r, out_r)
    try:
        yield proc
    finally:
        for fd in (status_r, out_r):
            if fd >= 0:
                os.close(fd)
        if not proc.reaped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def pump(fd: int, output: Callable[[bytes], None] | None) -> None:
    """Everything from ``fd`` until EOF, to ``output``."""
    while chunk := os.read(fd, 65536):
        if output is not None:
            output(chunk)


def exit_status(wstatus: int) -> int:
    """A wait status as a step's exit status: the code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(wstatus)
    return code if code >= 0 else 128 - code


def reset_signals() -> None:  # pragma: no cover - runs in forked children
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGQUIT,
                signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def close_fds_except(keep: list[int]) -> None:  # pragma: no cover - runs in forked children
    lo = 3
    for fd in sorted(f for f in keep if f >= 3):
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 20)


__all__ = ["FORK_LOCK", "Child", "forked", "read_all", "pump", "exit_status", "reset_signals",
           "close_fds_except"]
