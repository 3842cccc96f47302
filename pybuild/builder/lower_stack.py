"""An overlay lower stack in which every directory is distinct, though layers repeat.

overlayfs refuses one directory twice in ``lowerdir`` ("conflicting lowerdir path"), even
through a bind mount or a symlink (the check is on the inode), yet an image's layer list may
repeat a diff_id: two RUN steps that change nothing, a file added, removed and added again.

Every repeat below the topmost occurrence of a layer is replaced by that layer's *skeleton*:
its directories alone (same mode, owner and opaque marker), no files, no whiteouts. This
gives exactly the lookups of the full stack. Overlay resolves a path top down, and a lookup
can reach the lower copy only after passing the topmost one, whose entries are the same:
a file or whiteout there ends the lookup before the lower copy, so the lower copy's files and
whiteouts are never consulted; its directories are, and they are in the skeleton. So what a
layer between the two copies deleted stays deleted below and reappears above, as in
buildah, and a directory present only in the repeated layer is still a merged directory
(overlay reports such a directory with a link count of 1, as buildah's overlay driver does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from pybuild.builder.store import remove_tree
from pybuild.rootless import overlay_opaque_xattr


def distinct_lowers(lowers: list[str], alias_dir: Path) -> list[str]:
    """``lowers`` (topmost first) with every repeat of a directory after its first (topmost)
    occurrence replaced by a skeleton of it kept under ``alias_dir``."""
    seen: set[str] = set()
    out: list[str] = []
    wanted: set[str] = set()
    for i, lower in enumerate(lowers):
        real = os.path.realpath(lower)
        if real not in seen:
            seen.add(real)
            out.append(lower)
            continue
        name = f"{i}-{os.path.basename(os.path.dirname(real))[:16]}"
        wanted.add(name)
        alias = alias_dir / name
        if not alias.is_dir():
            _make_skeleton(Path(real), alias)
        out.append(str(alias))
    if alias_dir.is_dir():
        for old in os.listdir(alias_dir):
            if old not in wanted:
                remove_tree(alias_dir / old)
    return out


def _make_skeleton(source: Path, dest: Path) -> None:
    """Copy ``source``'s directory tree (no files) to ``dest``: written aside, then renamed,
    so a killed build never leaves a partial skeleton that a later mount would trust."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    remove_tree(tmp)
    for dirpath, dirs, _files in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        target = tmp if rel == "." else tmp / rel
        target.mkdir()
        _copy_dir_meta(dirpath, target)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
    os.rename(tmp, dest)


def _copy_dir_meta(src: str, dst: Path) -> None:
    shutil.copystat(src, dst, follow_symlinks=False)
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, st.st_mode & 0o7777)
    with contextlib.suppress(OSError):
        opaque = overlay_opaque_xattr()
        os.setxattr(dst, opaque, os.getxattr(src, opaque, follow_symlinks=False), follow_symlinks=False)
