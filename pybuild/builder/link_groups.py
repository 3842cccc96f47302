"""Hard links of lower layers stay one file in an overlay working container.

overlayfs (as mounted here, index=off) copies up one name of a hard-linked lower file
alone: a write or chmod through that name leaves the other names showing the old file, and
the layer would record only the name written, so the image splits the link group. A real
filesystem (and buildah's vfs-built images) keeps one file under every name.

So before an overlay is mounted, each link group of the lower layers with two or more
visible names is placed in ``upper/`` as one copied file linked under all those names
(same content, owner, mode, xattrs and times; parent directories as the layers show them).
While a step runs, the group behaves as on a real filesystem: a write or chmod through any
name reaches all, a rename over one name (``sed -i``) replaces that name alone. After the
overlay is unmounted, :func:`settle` takes the groups nothing touched out of ``upper/``
again (with the directories made for them), so a layer records only what changed; a group
that changed stays whole in it: the layer records the whole link group.

A group counts as untouched while its inode's ctime is the one recorded after placing it
(any write, chmod, chown, link or unlink changes it) and every name is still that inode.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from pybuild.builder.store import atomic_write
from pybuild.errors import StoreError
from pybuild.rootless import overlay_opaque_xattr

_CACHE = "links.json"  # beside a store layer's diff/: its link groups, computed once


def layer_groups(diff_dir: Path) -> list[list[str]]:
    """The hard-link groups (relative paths, sorted) of regular files in one unpacked layer;
    cached beside a store layer's ``diff/`` (a layer never changes once stored)."""
    cache = diff_dir.parent / _CACHE
    if diff_dir.name == "diff":
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(cache.read_bytes())
            if isinstance(cached, list):
                return [list(g) for g in cached]
    by_inode: dict[int, list[str]] = {}
    for dirpath, dirs, files in os.walk(diff_dir):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                by_inode.setdefault(st.st_ino, []).append(os.path.relpath(path, diff_dir))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
    groups = sorted(sorted(g) for g in by_inode.values() if len(g) > 1)
    if diff_dir.name == "diff":
        with contextlib.suppress(OSError):
            atomic_write(cache, json.dumps(groups).encode(), durable=False)  # a torn one is recomputed
    return groups


def _blocked_in(layer: str, rel: str) -> bool | None:
    """How ``layer`` (above the one holding ``rel``) affects ``rel``: True hides or replaces
    it, None: the layer says nothing about it (lookups continue below)."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        p = os.path.join(layer, *parts[:i])
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            return None
        if i == len(parts) or not stat.S_ISDIR(st.st_mode):
            return True
        with contextlib.suppress(OSError):
            if os.getxattr(p, overlay_opaque_xattr(), follow_symlinks=False) == b"y":
                return True
    return None


def _visible(lowers: list[str], k: int, rel: str) -> bool:
    return not any(_blocked_in(lowers[h], rel) for h in range(k))


def prepare(upper: Path, lowers: list[str]) -> list[dict[str, Any]]:
    """Place every lower link group with 2+ visible names in ``upper`` (``lowers``: real
    layer directories, topmost first). Returns the records :func:`settle` needs."""
    placed: list[dict[str, Any]] = []
    made_dirs: dict[str, Any] = {}
    touched: dict[str, tuple[int, int]] = {}  # existing upper dirs: their times before us
    for k, lower in enumerate(lowers):
        for group in layer_groups(Path(lower)):
            names = [n for n in group if _visible(lowers, k, n)]
            if len(names) < 2 or any(_blocked_in(str(upper), n) is not None for n in names):
                continue
            for n in names:
                _make_parents(upper, lowers, n, made_dirs, touched)
            first = upper / names[0]
            _copy_file(os.path.join(lower, names[0]), first)
            for n in names[1:]:
                os.link(first, upper / n)
            placed.append({"names": names, "ino": os.lstat(first).st_ino})
    for rel, (atime, mtime) in touched.items():
        os.utime(upper / rel, ns=(atime, mtime), follow_symlinks=False)
    for rel in sorted(made_dirs, key=lambda r: -r.count("/")):
        st = made_dirs[rel]
        os.utime(upper / rel, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for rec in placed:
        rec["ctime"] = os.lstat(upper / rec["names"][0]).st_ctime_ns
    dirs: list[dict[str, Any]] = []
    for rel in made_dirs:
        dst = os.lstat(upper / rel)
        dirs.append({"path": rel, "mtime": dst.st_mtime_ns, "ctime": dst.st_ctime_ns})
    return [{"groups": placed, "dirs": dirs}] if placed else []


def _make_parents(upper: Path, lowers: list[str], rel: str, made: dict[str, Any],
                  touched: dict[str, tuple[int, int]]) -> None:
    parts = rel.split("/")[:-1]
    for i in range(len(parts) + 1):
        d = "/".join(parts[:i])
        target = upper / d if d else upper
        if os.path.lexists(target):
            if d not in made and d not in touched:
                st = os.lstat(target)
                touched[d] = (st.st_atime_ns, st.st_mtime_ns)
            continue
        src = next((os.path.join(layer, d) for layer in lowers if os.path.isdir(os.path.join(layer, d))
                    and not os.path.islink(os.path.join(layer, d))), None)
        if src is None:  # cannot happen for a visible name; never guess a directory's metadata
            raise StoreError(f"no layer holds the directory /{d} of a hard-linked file")
        st = os.lstat(src)
        os.mkdir(target)
        _copy_meta(src, st, target)
        made[d] = st


def _copy_file(src: str, dst: Path) -> None:
    st = os.lstat(src)
    shutil.copyfile(src, dst, follow_symlinks=False)
    _copy_meta(src, st, dst)


def _copy_meta(src: str, st: os.stat_result, dst: Path) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid
    for name in os.listxattr(src, follow_symlinks=False):
        if name.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        with contextlib.suppress(OSError):
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def settle(upper: Path, records: list[dict[str, Any]]) -> None:
    """After unmount: take out of ``upper`` the groups (and directories made for them) that
    nothing touched; changed groups stay whole."""
    for record in records:
        dirs = {d["path"]: d for d in record.get("dirs", [])}
        untouched_dirs = set()
        for rel, d in dirs.items():
            if not _in_real_dirs(upper, rel):
                continue
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(upper / rel if rel else upper)
                if stat.S_ISDIR(st.st_mode) and (st.st_mtime_ns, st.st_ctime_ns) == (d["mtime"], d["ctime"]):
                    untouched_dirs.add(rel)
        for group in record.get("groups", []):
            if not _untouched(upper, group):
                continue
            for n in group["names"]:
                parent = upper / os.path.dirname(n) if os.path.dirname(n) else upper
                pst = os.lstat(parent)
                os.unlink(upper / n)
                os.utime(parent, ns=(pst.st_atime_ns, pst.st_mtime_ns), follow_symlinks=False)
        for rel in sorted(untouched_dirs, key=lambda r: -r.count("/")):
            path = upper / rel
            if rel and not any(os.scandir(path)):
                parent = path.parent
                pst = os.lstat(parent)
                os.rmdir(path)
                os.utime(parent, ns=(pst.st_atime_ns, pst.st_mtime_ns), follow_symlinks=False)


def _in_real_dirs(upper: Path, rel: str) -> bool:
    """Whether every directory above ``rel`` in ``upper`` is a real directory: a step may
    have put a symlink there, which settle must never follow out of ``upper``."""
    parts = rel.split("/")[:-1] if rel else []
    for i in range(1, len(parts) + 1):
        try:
            if not stat.S_ISDIR(os.lstat(os.path.join(upper, *parts[:i])).st_mode):
                return False
        except FileNotFoundError:
            return False
    return True


def _untouched(upper: Path, group: dict[str, Any]) -> bool:
    for n in group["names"]:
        if not _in_real_dirs(upper, n):
            return False
        try:
            st = os.lstat(upper / n)
        except FileNotFoundError:
            return False
        if st.st_ino != group["ino"] or st.st_ctime_ns != group["ctime"]:
            return False
    return True
