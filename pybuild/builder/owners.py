"""Owners: the processes that may leave something behind in a store, so that opening it
costs one directory listing, and the scans of :mod:`recovery` run only after a death.

Every process that opens a store (and so may write scratch dirs, temp files, leases,
build containers or private networks) first registers itself: an empty file
``ROOT/owners/PID-START`` (START from /proc/PID/stat, so a recycled PID is not mistaken
for the dead one), made with ``O_EXCL`` (whole or absent) *before* it creates anything.
It removes the file when it ends cleanly (atexit, after its own clean-up). A SIGKILL
at any point leaves the file, so the next open finds a dead owner and recovers; the
entry is forgotten only after that recovery, so a recovery that fails is tried again.

The directory itself is the store's marker that owners are registered: a store written
by an older pybuild has none, so its leftovers (with no owner to point at them) are
recovered once, by whoever opens it first, before the directory is made.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pybuild.fsutil import pid_alive, process_start

if TYPE_CHECKING:
    from pybuild.builder.store import Store

OWNERS_DIR = "owners"
_registered: set[tuple[int, Path]] = set()  # (pid, root): one entry per process and store


def entry_name(pid: int, start: int | None) -> str:
    return f"{pid}-{start if start is not None else -1}"


def _alive(name: str) -> bool:
    pid_text, _, start_text = name.partition("-")
    try:
        pid, start = int(pid_text), int(start_text)
    except ValueError:
        return True  # not an entry of ours (a temp file, a stray name): not ours to judge
    return pid_alive(pid, start)


def dead(store: Store) -> list[Path] | None:
    """The entries of dead owners; None when the store has no owners directory (written by
    an older pybuild, which registered nobody)."""
    directory = store.root / OWNERS_DIR
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return None
    return [directory / n for n in names if not _alive(n)]


def mark(store: Store) -> None:
    """Say that this store's owners are registered (after its unowned leftovers are gone)."""
    directory = store.root / OWNERS_DIR
    with contextlib.suppress(OSError):  # made already; or read-only: then recovered again next time
        directory.mkdir(mode=0o700)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def forget(entries: list[Path]) -> None:
    """Remove dead owners' entries, once what they left is recovered."""
    for path in entries:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def register(store: Store) -> Path:
    """Record this process as a live owner of ``store`` until it exits (once per store).
    A store this process cannot write (read-only) is not registered: it cannot leave
    anything there either."""
    pid = os.getpid()
    path = store.root / OWNERS_DIR / entry_name(pid, process_start(pid))
    if (pid, store.root) in _registered:
        return path
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            break
        except FileNotFoundError:  # the directory was removed by hand since the check
            mark(store)
        except FileExistsError:
            break  # registered already (the set was cleared, or another copy of this module)
        except OSError:
            return path
    else:
        return path
    _registered.add((pid, store.root))
    atexit.register(_deregister, path, pid)
    return path


def _deregister(path: Path, pid: int) -> None:
    """At a clean exit, after the process's own clean-up (atexit runs handlers registered
    later first: leases are released before this); never from a forked child."""
    if os.getpid() != pid:
        return
    with contextlib.suppress(OSError):
        path.unlink()


__all__ = ["OWNERS_DIR", "dead", "entry_name", "forget", "mark", "register"]
