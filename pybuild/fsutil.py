"""File helpers the formats (``pybuild.oci``) and the engine (``pybuild.builder``) share:
write-aside-fsync-rename, tree removal and size, and whether a process is still alive.

Temp files carry the writer's PID (``.tmp-PID-...``) so that whoever opens a store next
can tell a dead writer's leftovers from a live one's work in progress. A full disk is
reported as one line naming the file that could not be written (:class:`StoreError`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pybuild.errors import StoreError, is_disk_full

TMP_PREFIX = ".tmp-"


def tmp_prefix(name: str = "") -> str:
    """The prefix of this process's temp files (``.tmp-PID-NAME-``)."""
    return f"{TMP_PREFIX}{os.getpid()}-{name + '-' if name else ''}"


def tmp_owner(name: str) -> int | None:
    """The PID that wrote temp file ``name`` (``.tmp-PID-...``), or None when not ours."""
    if not name.startswith(TMP_PREFIX):
        return None
    pid = name[len(TMP_PREFIX):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def disk_full(e: OSError, what: str | os.PathLike[str]) -> StoreError:
    """The one line for a write that failed on a full disk (or quota)."""
    return StoreError(f"cannot write {what}: {os.strerror(e.errno or errno.ENOSPC)}")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: int = 0o644, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A file to stream into that appears at ``path`` whole or not at all: written beside it,
    fsynced and renamed over it when the block ends, removed if the block fails.
    ``durable=False``: no fsync (still whole or absent to every reader), for files that mean
    nothing once their process is gone (a lease, a build's own container), so a crash of
    the machine cannot leave one that matters half-written."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=tmp_prefix(path.name))
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(e, path) from None
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and is_disk_full(e):
            raise disk_full(e, path) from None
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, rename over it, fsync the dir
    (``durable=False``: no fsync; see :func:`atomic_file`)."""
    with atomic_file(path, mode, durable=durable) as f:
        f.write(data)


class FileLock:
    """An exclusive ``flock`` on ``path``, re-entrant within this object and taken by one
    thread at a time (several threads of one process share the object: a pull writes
    blobs from four)."""

    def __init__(self, path: str | os.PathLike[str], mode: int = 0o600) -> None:
        self.path = Path(path)
        self.mode = mode
        self._thread_lock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    @contextlib.contextmanager
    def hold(self, timeout: float | None = None, error: BaseException | None = None) -> Iterator[None]:
        """Hold the lock for the block; after ``timeout`` seconds (None: wait) raise ``error``
        (default TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise error or TimeoutError(str(self.path))
        try:
            if self._depth == 0:
                self._fd = self._flock(deadline, error)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # releases the flock
                    self._fd = None
        finally:
            self._thread_lock.release()

    def _flock(self, deadline: float | None, error: BaseException | None) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.mode)
        try:
            if deadline is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return fd
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise error or TimeoutError(str(self.path)) from None
                    time.sleep(0.02)
        except BaseException:
            os.close(fd)
            raise


def make_dirs(path: str | os.PathLike[str], mode: int = 0o755) -> None:
    """``mkdir -p`` whose new directories get ``mode`` whatever the umask (a store's
    directories must not turn world-writable under umask 000)."""
    path = Path(path)
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=mode)
        except FileExistsError:
            continue
        os.chmod(d, mode)


def remove_tree(path: Path) -> None:
    """Remove a tree we own, even with read-only dirs or immutable-looking modes inside."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if not path.is_dir() or path.is_symlink():
        path.unlink()
        return

    def onerror(func: Any, p: str, exc: Any) -> None:
        try:
            parent = os.path.dirname(p)
            os.chmod(parent, 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def tree_size(path: Path) -> int:
    """Bytes a tree takes on disk (allocated blocks, so sparse files count as stored)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot, /proc/PID/stat field 22), or None
    when the process is gone or a zombie: a zombie has finished its work and will never
    release what it holds, so it counts as dead."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return -1 if _kill0(pid) else None  # no /proc: cannot tell the start time
    fields = raw[raw.rfind(b")") + 2:].split()  # the command name may hold spaces and ')'
    if not fields or fields[0] in (b"Z", b"X", b"x"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return -1


def pid_alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` still runs (its scratch files, containers, leases are in use).

    With ``start`` (from :func:`process_start` when it began), a new process that reuses
    the PID does not count."""
    if pid <= 0:
        return False
    now = process_start(pid)
    if now is None:
        return False
    return start is None or now == -1 or start == -1 or now == start


def _kill0(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["TMP_PREFIX", "FileLock", "atomic_file", "atomic_write", "disk_full", "fsync_dir", "is_disk_full",
           "make_dirs", "pid_alive", "process_start", "remove_tree", "tmp_owner", "tmp_prefix", "tree_size"]
