"""Leases: content a live process is writing or about to use, which gc must spare.

A build or pull writes blobs and layers before any image record refers to them, and
reuses content already in the store. Without protection a ``prune`` in another process
sees that content as unreferenced and deletes it. As containerd does, the process takes a
lease first: ``ROOT/leases/PID-START-RAND.json`` lists the blobs and layers it holds, and
is tied to the process by its PID *and* start time (so a recycled PID does not keep a dead
build's lease alive). Gc spares everything a live lease lists; a dead holder's lease is
removed by the next gc or store open.

Every change to a lease file is made under the store lock, the lock gc holds from reading
the leases to its last deletion: content leased before a gc starts is spared, and content
leased after it ended is checked for by the holder (``Store.hold`` then ``has_blob``).

The file appears whole (written aside, renamed) and is then rewritten in place by one
``pwrite`` on a descriptor kept open: a lease only grows, so each write covers all of the
one before, and no gc reads it mid-write, since both hold the store lock (a build adds to
its lease at every step: a rename each time cost ~0.2 ms; issue 19).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.fsutil import atomic_write, pid_alive, process_start

if TYPE_CHECKING:
    from pybuild.builder.store import Store

LEASE_DIR = "leases"


class Lease:
    """One process's hold on blobs and layers; :meth:`add` under the store lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pid = os.getpid()
        self.start = process_start(self.pid)
        self.path = store.root / LEASE_DIR / f"{self.pid}-{self.start}-{secrets.token_hex(4)}.json"
        self.blobs: set[str] = set()
        self.layers: set[str] = set()
        self._fd: int | None = None  # the lease file, once it exists

    def add(self, *, blobs: tuple[str, ...] | list[str] = (), layers: tuple[str, ...] | list[str] = ()) -> None:
        """Hold ``blobs`` and ``layers`` (digests, diff_ids) until :meth:`release`."""
        new_blobs = {str(b) for b in blobs} - self.blobs
        new_layers = {str(x) for x in layers} - self.layers
        if not new_blobs and not new_layers:
            return
        with self.store.lock():
            self.blobs |= new_blobs
            self.layers |= new_layers
            data = json.dumps({"pid": self.pid, "start": self.start, "blobs": sorted(self.blobs),
                               "layers": sorted(self.layers)}).encode()
            if self._fd is not None and os.fstat(self._fd).st_nlink:  # (not removed by hand)
                os.pwrite(self._fd, data, 0)  # longer than what it replaces: see the module's doc
                return
            if self._fd is not None:
                os.close(self._fd)
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            # a lease dies with its process: no fsync (issue 19)
            atomic_write(self.path, data, 0o600, durable=False)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)

    def release(self) -> None:
        """Give the content back to gc (its records, if any, now keep it)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.blobs.clear()
        self.layers.clear()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def held(store: Store, *, mine: Path | None = None) -> tuple[set[str], set[str]]:
    """(layers, blobs) live leases hold, except the lease file ``mine`` (a gc does not
    protect content from its own Store); dead holders' leases are removed on the way
    (the caller holds the store lock)."""
    layers: set[str] = set()
    blobs: set[str] = set()
    directory = store.root / LEASE_DIR
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return layers, blobs
    for path in entries:
        if path.name.startswith(".") or path == mine:
            continue
        data = _read(path)
        if data is None:
            continue  # unreadable (files are renamed in whole): not ours to judge
        if not _holder_alive(data):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        layers.update(data.get("layers", []))
        blobs.update(data.get("blobs", []))
    return layers, blobs


def expire(store: Store) -> int:
    """Remove the leases of dead processes; how many there were. Every command runs this
    when it opens the store, so it takes the lock only when there is something to remove."""
    directory = store.root / LEASE_DIR
    dead = [p for p in directory.glob("*.json") if not _holder_alive(_read(p))]
    if not dead:
        return 0
    with store.lock():
        held(store)
    return sum(1 for p in dead if not p.exists())


def _holder_alive(data: dict[str, Any] | None) -> bool:
    if data is None:
        return True  # unreadable: not ours to judge
    start = data.get("start")
    return pid_alive(int(data.get("pid") or 0), start if isinstance(start, int) else None)


__all__ = ["Lease", "held", "expire", "LEASE_DIR"]
