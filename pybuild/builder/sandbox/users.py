"""USER and --chown names resolved from the image's own /etc/passwd and /etc/group.

The files are read as text, their paths resolved inside the rootfs (a symlinked
/etc/passwd cannot point at the host's); NSS is never called, so no library of
the image is ever loaded into pybuild (CVE-2019-14271). Semantics follow buildah:
an unknown user name is an error, a numeric uid missing from passwd runs with
gid 0, and the supplementary groups are the primary group plus every group
that lists the user's name, unless USER names a group: then that group alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from pybuild.builder.paths import resolve_in_root
from pybuild.errors import UnsafeContentError, UserError

_MAX_FILE = 16 << 20


@dataclass(frozen=True)
class PasswdEntry:
    """One /etc/passwd line of the rootfs."""

    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    """One /etc/group line of the rootfs."""

    name: str
    gid: int
    members: tuple[str, ...]


def _lines(rootfs: str, path: str) -> Iterator[str]:
    """Lines of a text file inside ``rootfs``; nothing if it is absent or not a regular file."""
    try:
        host = resolve_in_root(rootfs, path)
    except UnsafeContentError:
        return
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return
        data = f.read(_MAX_FILE)
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line


def _int(s: str) -> int | None:
    s = s.strip()
    if not s.isdigit():
        return None
    v = int(s)
    return v if v < 1 << 32 else None


def read_passwd(rootfs: str) -> list[PasswdEntry]:
    """Parse ``rootfs``/etc/passwd; malformed lines are skipped (as libc does)."""
    out = []
    for line in _lines(rootfs, "/etc/passwd"):
        f = line.split(":")
        if len(f) < 4 or not f[0]:
            continue
        uid, gid = _int(f[2]), _int(f[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(f[0], uid, gid, f[5] if len(f) > 5 and f[5] else "/"))
    return out


def read_group(rootfs: str) -> list[GroupEntry]:
    """Parse ``rootfs``/etc/group; malformed lines are skipped."""
    out = []
    for line in _lines(rootfs, "/etc/group"):
        f = line.split(":")
        if len(f) < 3 or not f[0]:
            continue
        gid = _int(f[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in f[3].split(",") if m.strip()) if len(f) > 3 else ()
        out.append(GroupEntry(f[0], gid, members))
    return out


def with_home(env: list[str], home: str) -> list[str]:
    """``env`` with ``HOME`` set to the user's home directory when it sets none, last, as runc's
    init adds it (and buildah's steps see it): the same under every isolation."""
    if any(e.startswith("HOME=") for e in env):
        return env
    return [*env, f"HOME={home}"]


def resolve_user(rootfs: str, user_spec: str) -> tuple[int, int, list[int], str]:
    """``user[:group]`` (names or numbers) -> (uid, gid, additional_gids, home).

    An empty spec is root. ``additional_gids`` starts with the primary gid."""
    spec = user_spec.strip()
    user, _, group = spec.partition(":")
    user = user or "0"
    passwd = read_passwd(rootfs)
    entry: PasswdEntry | None = None
    numeric = _int(user)
    if numeric is not None:
        uid = numeric
        entry = next((p for p in passwd if p.uid == uid), None)
        gid = entry.gid if entry else 0
    else:
        entry = next((p for p in passwd if p.name == user), None)
        if entry is None:
            raise UserError(f"unknown user {user!r} (not in the image's /etc/passwd)", where=f"USER {spec}")
        uid, gid = entry.uid, entry.gid
    home = entry.home if entry else "/"
    groups = read_group(rootfs) if (group or entry) else []
    if group:
        g = _int(group)
        if g is None:
            found = next((e for e in groups if e.name == group), None)
            if found is None:
                raise UserError(f"unknown group {group!r} (not in the image's /etc/group)", where=f"USER {spec}")
            g = found.gid
        gid = g
    additional = [gid]
    if entry is not None and not group:  # an explicit group is the only group (BuildKit, buildah)
        for e in groups:
            if entry.name in e.members and e.gid not in additional:
                additional.append(e.gid)
    return uid, gid, additional, home


__all__ = ["PasswdEntry", "GroupEntry", "read_passwd", "read_group", "resolve_user", "with_home"]
