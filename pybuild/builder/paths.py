"""Resolving container paths inside a root directory, the way the container would see them.

A path inside a working container must never reach the host: symlinks are
followed as the container's kernel would (absolute targets start at the root,
``..`` stops at the root), one component at a time, and never through
``os.path.realpath`` of the host.
"""

from __future__ import annotations

import os
import posixpath
import stat

from pybuild.errors import UnsafeContentError

_MAX_LINKS = 255

# The PATH of a container whose image sets none: FROM scratch, a RUN, `buildah run`
# (buildah's and BuildKit's default, the same on every Linux host)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def resolve_in_root(root: str, path: str, *, follow_final: bool = True) -> str:
    """The host path of container path ``path`` under ``root``, symlinks resolved inside it.

    Missing components are allowed (they are appended as they are), so the result
    can be used to create a file or directory."""
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if not parts and not follow_final:
            resolved.append(part)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            # nothing below a missing component exists: the rest is normalised lexically
            return os.path.join(root, *_lexical([*resolved, part, *parts]))
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise UnsafeContentError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _lexical(parts: list[str]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        elif p not in ("", "."):
            out.append(p)
    return out


def inside(root: str, host_path: str) -> bool:
    """Whether ``host_path`` lies within ``root`` (lexically, after normalisation)."""
    root = os.path.abspath(root)
    host_path = os.path.abspath(host_path)
    return host_path == root or host_path.startswith(root.rstrip("/") + "/")


def container_join(workdir: str, path: str) -> str:
    """A container path made absolute against ``workdir``, as Docker resolves COPY/WORKDIR."""
    if not path.startswith("/"):
        path = posixpath.join(workdir or "/", path)
    trailing = path.endswith("/") and path != "/"
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm + ("/" if trailing else "")


def makedirs_in_root(root: str, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
    """Create container directory ``path`` (and parents) inside ``root``; return its host path.

    New directories get ``mode`` and owner ``uid:gid`` (Docker creates parents 0755 root)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = "/"
    host = root
    for part in parts:
        current = posixpath.join(current, part)
        host = resolve_in_root(root, current)
        try:
            st = os.stat(host)
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeContentError(f"{current} exists in the container and is not a directory")
        except FileNotFoundError:
            parent = os.path.dirname(host)
            if not os.path.isdir(parent):  # reached through a dangling symlink: make its target's parents
                makedirs_in_root(root, "/" + os.path.relpath(parent, root), mode, uid, gid)
            os.mkdir(host, mode)
            os.chmod(host, mode)
            if os.geteuid() == 0:
                os.lchown(host, uid, gid)
        current = "/" + os.path.relpath(host, root) if host != root else "/"
    return host
