"""A read-only view of an image's root filesystem, merged from its unpacked layers.

Catalogers read files by their path in the image (``/var/lib/dpkg/status``), never a host
path: symbolic links are followed *inside* the view (a merged-usr ``/lib -> usr/lib`` is
resolved against the image, never the host), regular files are opened with ``O_NOFOLLOW``,
and every read is bounded. The layers are directories in overlay form (a 0/0 character
device is a whiteout, ``trusted.overlay.opaque`` an opaque directory), bottom layer first, as
the store keeps them; a tree unpacked with whiteouts applied is a single such layer.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from pybuild.errors import UnsafeContentError
from pybuild.rootless import overlay_opaque_xattr

_MAX_LINKS = 40


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, overlay_opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:  # no xattr, or not root (trusted.* is root's): a plain directory
        return False


class RootFS:
    """Paths of the merged tree (``/a/b``) -> the layer file that holds them, with its lstat."""

    def __init__(self, layers: Sequence[str | os.PathLike[str]]) -> None:
        self._entries: dict[str, tuple[str, os.stat_result]] = {}  # "/" itself is implied
        for layer in layers:
            self._add_layer(os.fspath(layer))

    def _drop_below(self, rel: str) -> None:
        prefix = rel.rstrip("/") + "/"
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def _add_layer(self, layer: str) -> None:
        for dirpath, dirnames, filenames in os.walk(layer):  # never follows links
            reldir = "/" + os.path.relpath(dirpath, layer) if dirpath != layer else "/"
            reldir = reldir.replace("/./", "/")
            if reldir != "/" and _is_opaque(dirpath):
                self._drop_below(reldir)
            for name in (*dirnames, *filenames):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                rel = (reldir.rstrip("/") + "/" + name)
                old = self._entries.get(rel)
                if _is_whiteout(st):
                    self._entries.pop(rel, None)
                    self._drop_below(rel)
                    continue
                if old is not None and stat.S_ISDIR(old[1].st_mode) and not stat.S_ISDIR(st.st_mode):
                    self._drop_below(rel)
                self._entries[rel] = (full, st)

    # --- queries -----------------------------------------------------------------------------

    def paths(self) -> Iterator[str]:
        """Every path in the tree, sorted."""
        return iter(sorted(self._entries))

    def lstat(self, path: str) -> os.stat_result | None:
        found = self._entries.get(self.normalise(path))
        return found[1] if found else None

    @staticmethod
    def normalise(path: str) -> str:
        parts: list[str] = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def resolve(self, path: str) -> str | None:
        """``path`` with every symbolic link followed inside the tree; None when it is absent."""
        todo = [p for p in self.normalise(path).split("/") if p]
        done = "/"
        hops = 0
        while todo:
            part = todo.pop(0)
            cand = self.normalise(done.rstrip("/") + "/" + part)
            found = self._entries.get(cand)
            if found is None:
                return None
            if stat.S_ISLNK(found[1].st_mode):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = os.readlink(found[0])
                base = "/" if target.startswith("/") else done
                todo = [p for p in target.split("/") if p] + todo
                done = base
                continue
            done = cand
        return done

    def is_file(self, path: str) -> bool:
        real = self.resolve(path)
        st = self.lstat(real) if real else None
        return st is not None and stat.S_ISREG(st.st_mode)

    def listdir(self, path: str) -> list[str]:
        """Names in directory ``path`` (links followed), sorted; empty when it is not one."""
        real = self.resolve(path)
        if real is None:
            return []
        prefix = real.rstrip("/") + "/"
        return sorted({k[len(prefix):].split("/", 1)[0] for k in self._entries
                       if k.startswith(prefix) and k != prefix})

    def open(self, path: str) -> int:
        """A read-only descriptor of the regular file at ``path`` (links followed in the tree)."""
        real = self.resolve(path)
        found = self._entries.get(real) if real else None
        if found is None or not stat.S_ISREG(found[1].st_mode):
            raise FileNotFoundError(path)
        try:
            return os.open(found[0], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise UnsafeContentError(f"cannot open {path} in the image: {e.strerror}") from e

    def read(self, path: str, limit: int = 64 << 20) -> bytes:
        """The bytes of ``path`` (at most ``limit``: a larger file is refused, not truncated)."""
        fd = self.open(path)
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise UnsafeContentError(f"{path} in the image is larger than {limit} bytes")
        return data

    def text(self, path: str, limit: int = 64 << 20) -> str:
        return self.read(path, limit).decode("utf-8", "replace")

    def os_release(self) -> tuple[str, str]:
        """(ID, ``ID-VERSION_ID``) from the image's os-release (purls' namespace and distro), or empty."""
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            if self.is_file(path):
                fields = dict(line.split("=", 1) for line in self.text(path, 1 << 16).splitlines() if "=" in line)
                ident, version = fields.get("ID", "").strip('"'), fields.get("VERSION_ID", "").strip('"')
                return ident, (f"{ident}-{version}" if ident and version else ident)
        return "", ""

    def host_path(self, path: str) -> Path | None:
        """The layer file holding ``path`` (for hashing); None when absent or not a file."""
        real = self.resolve(path)
        found = self._entries.get(real) if real else None
        if found is None or not stat.S_ISREG(found[1].st_mode):
            return None
        return Path(found[0])
