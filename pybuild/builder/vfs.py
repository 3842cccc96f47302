"""The vfs storage driver: a working container as a plain copy, for hosts without overlayfs.

The root filesystem is materialised by copying each layer (kept in overlay form:
0/0 character devices are whiteouts, ``trusted.overlay.opaque`` marks opaque
directories) on top of the previous ones. Committing compares the tree with a
metadata snapshot taken when it was made (type, mode, owner, size, mtime, link
target, device) and writes what changed as a new overlay-form layer directory, so
the rest of the store treats vfs and overlay layers alike.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from pybuild.rootless import overlay_opaque_xattr


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _copy_meta(src_st: os.stat_result, dst: str, *, symlink: bool = False) -> None:
    if os.geteuid() == 0:
        os.lchown(dst, src_st.st_uid, src_st.st_gid)
    if not symlink:
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _copy_entry(src: str, st: os.stat_result, dst: str) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if os.path.lexists(dst) and not (os.path.isdir(dst) and not os.path.islink(dst)):
            os.unlink(dst)
        if not os.path.exists(dst):
            os.mkdir(dst, 0o700)
        return  # metadata after the children (their creation changes the mtime)
    _remove(dst)
    if stat.S_ISREG(mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:
        return  # sockets
    _copy_meta(st, dst, symlink=stat.S_ISLNK(mode))


def _copy_or_link(src: str, st: os.stat_result, dst: str, linked: dict[tuple[int, int], str]) -> None:
    """Copy an entry; a further name of a hard-linked file already copied becomes a link to
    that copy, so a link group stays one file (a write through one name reaches all)."""
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        first = linked.get((st.st_dev, st.st_ino))
        if first is not None and os.path.lexists(first):
            _remove(dst)
            os.link(first, dst)
            return
        linked[(st.st_dev, st.st_ino)] = dst
    _copy_entry(src, st, dst)


def apply_layer_dir(layer: Path, rootfs: Path) -> None:
    """Copy an overlay-form layer directory onto ``rootfs``, honouring its whiteouts."""
    dirs: list[tuple[os.stat_result, str]] = []
    linked: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(layer):
        rel = os.path.relpath(dirpath, layer)
        target_dir = rootfs if rel == "." else rootfs / rel
        try:
            if os.getxattr(dirpath, overlay_opaque_xattr(), follow_symlinks=False) == b"y" and rel != ".":
                for name in os.listdir(target_dir):
                    _remove(os.path.join(target_dir, name))
        except OSError:
            pass
        for name in sorted(dirnames + filenames):
            src = os.path.join(dirpath, name)
            dst = str(target_dir / name)
            st = os.lstat(src)
            if _is_whiteout(st):
                _remove(dst)
                continue
            _copy_or_link(src, st, dst, linked)
            if stat.S_ISDIR(st.st_mode):
                dirs.append((st, dst))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    for st, dst in reversed(dirs):
        _copy_meta(st, dst)


def _entry(st: os.stat_result, path: str) -> list[Any]:
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    size = st.st_size if not stat.S_ISDIR(st.st_mode) else 0
    # a regular file's link count: a link added or removed changes every name of the group
    nlink = st.st_nlink if stat.S_ISREG(st.st_mode) else 0
    return [st.st_mode, st.st_uid, st.st_gid, size, st.st_mtime_ns, st.st_rdev, link, nlink]


def snapshot(rootfs: Path) -> dict[str, list[Any]]:
    """Metadata of every path under ``rootfs`` (what a later diff compares against)."""
    out: dict[str, list[Any]] = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        rel_dir = os.path.relpath(dirpath, rootfs)
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            out[rel] = _entry(os.lstat(path), path)
    return out


def save_snapshot(path: Path, snap: dict[str, list[Any]]) -> None:
    from pybuild.builder.store import atomic_write

    atomic_write(path, json.dumps(snap).encode())


def load_snapshot(path: Path) -> dict[str, list[Any]]:
    try:
        data: dict[str, list[Any]] = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    return data


def diff(rootfs: Path, before: dict[str, list[Any]], out: Path) -> dict[str, list[Any]]:
    """Write what changed in ``rootfs`` since ``before`` into ``out`` (overlay form);
    return the new snapshot."""
    after = snapshot(rootfs)
    out.mkdir(parents=True, exist_ok=True)
    changed = sorted(p for p, e in after.items() if before.get(p) != e)
    deleted = sorted(p for p in before if p not in after)
    made: set[str] = set()
    linked: dict[tuple[int, int], str] = {}

    def ensure_parent(rel: str) -> None:
        parent = os.path.dirname(rel)
        if not parent or parent in made:
            return
        ensure_parent(parent)
        dst = out / parent
        if not dst.exists():
            os.mkdir(dst, 0o755)
            _copy_meta(os.lstat(rootfs / parent), str(dst))
        made.add(parent)

    for rel in changed:
        src = rootfs / rel
        st = os.lstat(src)
        ensure_parent(rel)
        _copy_or_link(str(src), st, str(out / rel), linked)
        if stat.S_ISDIR(st.st_mode):
            _copy_meta(st, str(out / rel))
            made.add(rel)
    for rel in deleted:
        parent = os.path.dirname(rel)
        if parent and parent in before and (parent not in after or not stat.S_ISDIR(after[parent][0])):
            continue  # the parent is gone or replaced: that covers this path
        ensure_parent(rel)
        dst = out / rel
        if not os.path.lexists(dst):
            os.mknod(dst, stat.S_IFCHR | 0o000, 0)
    # directories whose children we wrote: restore their mtimes last
    for rel in sorted(made, reverse=True):
        if rel in after:
            os.utime(out / rel, ns=(after[rel][4], after[rel][4]), follow_symlinks=False)
    return after
