"""Recovery: remove what dead processes left in a store, when a command opens it.

A SIGKILL can strike a build, pull or run at any point. What it leaves is found by
owner: scratch dirs ``tmp/PID-purpose-*`` and temp files ``.tmp-PID-*`` name their
process, leases (:mod:`leases`) and build containers record theirs. An owner counts as
dead when its PID is gone, a zombie, or another process's (start time differs). For a
dead owner this module kills a runc step still running, unmounts overlays and secret
tmpfs mounts, and removes the files. It runs above the store: opening one
(:func:`on_open`, which ``pybuild.Store`` calls) runs :func:`recover` only when a
registered owner (:mod:`owners`) died, or once for a store of an older pybuild; else the
open is one directory listing. ``prune`` calls :func:`sweep` (which looks deeper).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from pybuild.builder.store import Store
from pybuild.errors import PybuildError
from pybuild.fsutil import TMP_PREFIX, pid_alive, remove_tree, tmp_owner

LEGACY_TMP_AGE = 3600.0  # temp files without an owner's PID (older pybuild): removed after an hour
ORPHAN_DIR_AGE = 60.0  # a container dir without state.json: being created for at most this long
_CONTENT_DIRS = ("diff", "upper", "merged", "work", "rootfs", "stubs", "mounts")  # image content: not walked


def open_store(root: str | os.PathLike[str], *, storage_driver: str | None = None,
               mount_program: str | None = None) -> Store:
    """The store at ``root``, with dead processes' leftovers removed (what commands use)."""
    store = Store(root, storage_driver=storage_driver, mount_program=mount_program)
    on_open(store)
    return store


def on_open(store: Store) -> bool:
    """What opening ``store`` does: :func:`recover` if some registered owner died (then
    forget it) or the store predates owner records (then mark it), and register this
    process as an owner before it creates anything; whether it recovered."""
    from pybuild.builder import owners

    dead = owners.dead(store)
    if dead is None:  # an older pybuild's store: its leftovers name no registered owner
        recover(store)
        owners.mark(store)
    elif dead:
        recover(store)
        owners.forget(dead)
    owners.register(store)
    return bool(dead is None or dead)


def recover(store: Store) -> None:
    """Remove what dead processes left: scratch dirs (after stopping their runc steps and
    unmounting), temp files, leases, build containers, overlays of killed runs."""
    if not (store.root / "version").exists():
        return
    clean_scratch(store)
    for directory in (store.root, store.root / "blobs", store.root / "blobs" / "sha256",
                      store.root / "leases", store.root / "image-meta"):
        clean_temp_files(directory)
    from pybuild.builder import leases
    from pybuild.builder.container import cleanup_dead

    leases.expire(store)
    cleanup_dead(store)  # a killed build's working containers, still mounted
    recover_networks()
    remove_orphan_containers(store)


def recover_networks() -> None:
    """Tear down the private networks of killed steps (veth, namespace, netavark's rules):
    they are machine-wide, so any store's opening clears them. Rootless too: a killed rootless
    build's slirp4netns namespace files are under the user's runtime dir."""
    from pybuild.builder.sandbox import network

    with contextlib.suppress(OSError, PybuildError):
        network.recover()


def sweep(store: Store) -> None:
    """:func:`recover`, and the temp files of dead writers anywhere in the store's records
    (layer info, container state, cache entries): what ``prune`` does first. The dead
    owners it finds are forgotten after, as :func:`on_open` forgets them."""
    from pybuild.builder import owners

    dead = owners.dead(store) or []
    recover(store)
    for sub in ("layers", "containers", "cache"):
        for dirpath, dirnames, files in os.walk(store.root / sub):
            dirnames[:] = [d for d in dirnames if d not in _CONTENT_DIRS]  # image content, not records
            if any(f.startswith(TMP_PREFIX) for f in files):
                clean_temp_files(Path(dirpath))
    owners.forget(dead)


def clean_scratch(store: Store) -> list[str]:
    """Remove ``tmp/PID-*`` entries of dead processes; the names removed."""
    tmp = store.root / "tmp"
    try:
        entries = list(os.scandir(tmp))
    except FileNotFoundError:
        return []
    removed = []
    for entry in entries:
        pid_text = entry.name.split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        if entry.name.split("-", 2)[1:2] == ["run"]:
            from pybuild.builder.sandbox.oci import reap

            reap(entry.path)  # a killed build's runc step would otherwise run on
            unmount_killed_run(store, entry.name)
        unmount_under(entry.path)  # a killed RUN's rw-bind overlay, a secret's tmpfs
        remove_tree(Path(entry.path))
        removed.append(entry.name)
    return removed


def clean_temp_files(directory: Path) -> int:
    """Remove ``.tmp-PID-*`` files of dead writers in ``directory`` (half-written blobs,
    records); how many."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    n = 0
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(TMP_PREFIX):
            continue
        owner = tmp_owner(entry.name)
        if owner is not None:
            if pid_alive(owner):
                continue
        else:
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime < LEGACY_TMP_AGE:
                    continue
        with contextlib.suppress(OSError):
            remove_tree(Path(entry.path))
            n += 1
    return n


def remove_orphan_containers(store: Store) -> list[str]:
    """``containers/ID/`` without ``state.json`` (a create killed before its first save)."""
    removed = []
    now = time.time()
    for d in _dirs(store.root / "containers"):
        if (d / "state.json").exists():
            continue
        try:
            if now - d.stat().st_mtime < ORPHAN_DIR_AGE:
                continue  # being created right now
        except FileNotFoundError:
            continue
        for sub in ("merged", "rootfs"):
            unmount_under(str(d / sub))
        remove_tree(d)
        removed.append(d.name)
    return removed


def unmount_killed_run(store: Store, scratch_name: str) -> None:
    """A killed ``pybuild run`` on a recorded container (scratch ``PID-run-CID-*``) left its
    overlay mounted: unmount it, unless the user mounted it (``pybuild mount``)."""
    import json

    parts = scratch_name.split("-")
    if len(parts) < 4 or not re.fullmatch(r"[0-9a-f]{12}", parts[2]):
        return
    for d in (store.root / "containers").glob(parts[2] + "*"):
        try:
            state = json.loads((d / "state.json").read_bytes())
        except (OSError, ValueError):
            state = {}
        if not state.get("user_mounted"):
            unmount_under(str(d / "merged"))


def _names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


def _dirs(directory: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def mounts_under(path: str) -> list[str]:
    prefix = os.path.abspath(path)
    found: list[str] = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 5:
                    continue
                mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                if mp == prefix or mp.startswith(prefix + "/"):
                    found.append(mp)
    except OSError:
        return []
    return found


def unmount_under(path: str) -> None:
    """Unmount every mount at or below ``path``, deepest first (never following it)."""
    found = mounts_under(path)
    if not found:
        return
    from pybuild.builder.sandbox.overlay import unmount

    for mp in sorted(found, key=len, reverse=True):
        with contextlib.suppress(PybuildError):
            unmount(mp)


__all__ = ["open_store", "on_open", "recover", "sweep", "clean_scratch", "clean_temp_files", "remove_orphan_containers",
           "unmount_killed_run", "unmount_under",
           "mounts_under"]
