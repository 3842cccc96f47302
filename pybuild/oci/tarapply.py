"""Safe extraction of a layer tar under a root directory.

Layers are written by strangers and pybuild runs as root, so containment is by
construction, not by string checks (../shared/SECURITY.md, "Extracting layers"):

- names are normalised component by component ("..", "/", "." clamp at the root);
- every parent component is walked with ``openat(O_NOFOLLOW)`` from a descriptor of the root;
  a symlink met on the way (from this layer or already on disk) is read and resolved again
  *inside* the root (absolute targets start at the root, climbing above it stops at it), with a
  bound on the number of links;
- the final component is never followed: whatever is there is removed first (a directory
  only when the new entry is not a directory) and the new inode is created with
  O_EXCL/O_NOFOLLOW or the ``*at`` calls, so nothing is ever written through a symlink or an
  existing hard link;
- hard links resolve their target the same way and must name an existing non-directory;
- the root entry may only be a directory; ``trusted.overlay.*`` (and ``user.overlay.*``)
  xattrs from the tar are dropped: overlay whiteout markers are made only from ``.wh.`` entries;
- limits on uncompressed bytes, entries and PAX/long-name header sizes stop bombs.

The tar is parsed here (ustar, PAX, GNU long names, base-256 numbers) rather than by
``tarfile``, so every size is checked before anything is read into memory.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pybuild.errors import IntegrityError, PybuildError, StoreError, UnsafeContentError, UnsupportedError
from pybuild.events import WARNING, EventCallback, emit
from pybuild.oci.compress import decompressing_reader
from pybuild.oci.digest import Digest
from pybuild.oci.limits import DecompressionLimits, current
from pybuild.rootless import overlay_opaque_xattr

BLOCK = 512
READ_SIZE = 1 << 20
MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_HEADER_ONLY = {b"1", b"2", b"3", b"4", b"5", b"6"}


@dataclass(frozen=True)
class Limits:
    """Bounds that stop decompression bombs and hostile headers.

    ``None`` takes the value of pybuild.conf's ``[layers]`` (pybuild/oci/limits.py):
    ``max_bytes`` its ``max_size``, ``max_ratio`` and ``ratio_floor`` the same names."""

    max_bytes: int | None = None  # uncompressed tar bytes
    max_entries: int = 5_000_000
    max_header_bytes: int = 1 << 20  # one PAX header or GNU long name/link
    max_ratio: float | None = None  # uncompressed / compressed bytes, past ratio_floor
    ratio_floor: int | None = None

    def decompression(self) -> DecompressionLimits:
        conf = current().layers
        return DecompressionLimits(
            max_size=conf.max_size if self.max_bytes is None else self.max_bytes,
            max_ratio=conf.max_ratio if self.max_ratio is None else self.max_ratio,
            ratio_floor=conf.ratio_floor if self.ratio_floor is None else self.ratio_floor)


class _Reader:
    """Reads the uncompressed tar, hashing every byte and enforcing the byte limit."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self._buf = b""
        self._pos = 0
        self.total = 0
        self._limit = limit
        self.eof = False

    def _fill(self) -> bool:
        data = self._raw.read(READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.total += len(data)
        if self.total > self._limit:
            raise UnsafeContentError(f"layer expands beyond the limit of {self._limit} bytes")
        self._hash.update(data)
        self._buf = self._buf[self._pos:] + data if self._pos < len(self._buf) else data
        self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at end of stream)."""
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        end = self._pos + n
        if end <= len(self._buf):
            data = self._buf[self._pos:end]
            self._pos = end
            return data
        parts = [self._buf[self._pos:]]
        got = len(parts[0])
        self._pos = len(self._buf)
        while got < n and self._fill():
            take = self._buf[: n - got]
            self._pos = len(take)
            parts.append(take)
            got += len(take)
        return b"".join(parts)

    def exact(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise IntegrityError(f"layer tar is truncated (in {what})")
        return data

    def skip(self, n: int, what: str) -> None:
        while n:
            data = self.read(min(n, READ_SIZE))
            if not data:
                raise IntegrityError(f"layer tar is truncated (in {what})")
            n -= len(data)

    def drain(self) -> None:
        """Read to the end so the digest covers the whole blob (padding included)."""
        self._pos = len(self._buf)
        while self._fill():
            self._pos = len(self._buf)

    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())


@dataclass
class _Entry:
    name: bytes
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: float
    linkname: bytes
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes]


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            value -= 1 << (8 * len(field) - 2)  # negative (only meaningful for mtime)
        return value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise IntegrityError(f"layer tar header has a bad {what} field {text!r}") from None


def _cstr(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\x00") == b"":
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise IntegrityError("layer tar has a malformed PAX header")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise IntegrityError("layer tar has a malformed PAX header") from None
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1:end] != b"\n":
            raise IntegrityError("layer tar has a malformed PAX header")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise IntegrityError("layer tar has a malformed PAX record")
        records[key] = value
        pos = end
    return records


def _entries(r: _Reader, limits: Limits) -> Iterator[_Entry]:
    """Yield each entry with the reader positioned at the entry's data."""
    pax: dict[bytes, bytes] = {}
    long_name: bytes | None = None
    long_link: bytes | None = None
    count = 0
    while True:
        block = r.read(BLOCK)
        if not block:
            return  # no end-of-archive blocks: tolerated, as Go's and GNU tar's readers do
        if len(block) != BLOCK:
            raise IntegrityError("layer tar is truncated (in a header)")
        if block == bytes(BLOCK):
            return
        stored = _number(block[148:156], "checksum")
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if stored != unsigned:
            signed = sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])
            if stored != signed:
                raise IntegrityError("layer tar has a header with a bad checksum")
        typeflag = block[156:157]
        size = _number(block[124:136], "size")
        if size < 0:
            raise IntegrityError("layer tar has a negative size")
        if typeflag in (b"x", b"g", b"L", b"K"):
            if size > limits.max_header_bytes:
                raise UnsafeContentError(
                    f"layer tar has a {size}-byte extended header (limit {limits.max_header_bytes})")
            data = r.exact(size, "an extended header")
            r.skip(-size % BLOCK, "padding")
            if typeflag == b"x":
                pax.update(_pax_records(data))
            elif typeflag == b"L":
                long_name = data.split(b"\x00", 1)[0]
            elif typeflag == b"K":
                long_link = data.split(b"\x00", 1)[0]
            # b"g": global headers (comments from git archive...) change nothing we use
            continue
        count += 1
        if count > limits.max_entries:
            raise UnsafeContentError(f"layer tar has more than {limits.max_entries} entries")
        name = _cstr(block[0:100])
        if block[257:263] == b"ustar\x00":
            prefix = _cstr(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        if long_name is not None:
            name = long_name
        linkname = long_link if long_link is not None else _cstr(block[157:257])
        uid = _number(block[108:116], "uid")
        gid = _number(block[116:124], "gid")
        mtime: float = _number(block[136:148], "mtime")
        xattrs: dict[str, bytes] = {}
        for key, value in pax.items():
            if key == b"path":
                name = value
            elif key == b"linkpath":
                linkname = value
            elif key == b"size":
                size = int(value)
            elif key == b"uid":
                uid = int(value)
            elif key == b"gid":
                gid = int(value)
            elif key == b"mtime":
                mtime = float(value)
            elif key.startswith(b"SCHILY.xattr."):
                xattrs[key[13:].decode("utf-8", "surrogateescape")] = value
            elif key.startswith(b"GNU.sparse."):
                raise UnsupportedError("sparse files in layers are not supported",
                                       where=os.fsdecode(name))
        pax = {}
        long_name = long_link = None
        if b"\x00" in name or b"\x00" in linkname:
            raise UnsafeContentError("layer tar entry name contains a NUL byte")
        if typeflag in _HEADER_ONLY:
            size = 0
        yield _Entry(name, typeflag, _number(block[100:108], "mode") & 0o7777, uid, gid, size, mtime,
                     linkname, _number(block[329:337], "devmajor"), _number(block[337:345], "devminor"),
                     xattrs)


def _components(name: bytes) -> list[bytes]:
    """Normalise a tar name inside the root: "..", "." and "/" never leave it."""
    parts: list[bytes] = []
    for part in name.split(b"/"):
        if part == b"" or part == b".":
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


class _Applier:
    def __init__(self, target: bytes, whiteouts: str, on_event: EventCallback | None) -> None:
        self.root_fd = os.open(target, _DIR_FLAGS)
        self.target = target
        self.whiteouts = whiteouts
        self.on_event = on_event
        self.is_root = os.geteuid() == 0
        self.unpacked: set[tuple[bytes, ...]] = set()
        self.dirs: list[tuple[bytes, ...]] = []
        self.dir_meta: dict[tuple[bytes, ...], _Entry] = {}
        self._cache_key: tuple[bytes, ...] | None = None
        self._cache_fd = -1

    # -- resolution inside the root ----------------------------------------------------------

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)

    def _drop_cache(self) -> None:
        if self._cache_fd >= 0:
            os.close(self._cache_fd)
        self._cache_fd = -1
        self._cache_key = None

    def _invalidate(self) -> None:
        """Forget the cached walk (something on the way may have changed) but keep its fd
        open: the caller may be using it right now; parent() closes it on the next miss."""
        self._cache_key = None

    def _walk(self, parts: list[bytes], *, create: bool, follow: bool = True) -> int | None:
        """A new descriptor of the directory ``parts`` names, resolved inside the root.

        Missing directories are created (0755) when ``create``; otherwise None is returned.
        With ``follow=False`` a symlink on the way also gives None (whiteouts never act
        through links)."""
        fds = [os.dup(self.root_fd)]
        pending = list(reversed(parts))
        links = 0
        try:
            while pending:
                part = pending.pop()
                if part == b"..":
                    if len(fds) > 1:
                        os.close(fds.pop())
                    continue
                if part in (b"", b"."):
                    continue
                try:
                    fd = os.open(part, _DIR_FLAGS, dir_fd=fds[-1])
                    fds.append(fd)
                    continue
                except FileNotFoundError:
                    if not create:
                        return None
                    try:
                        os.mkdir(part, 0o755, dir_fd=fds[-1])
                    except FileExistsError:
                        pass
                    pending.append(part)
                    continue
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    if not create:
                        return None
                    raise UnsafeContentError("a parent path component is not a directory",
                                             where=os.fsdecode(b"/".join(parts)))
                if not follow:
                    return None
                links += 1
                if links > MAX_SYMLINKS:
                    raise UnsafeContentError("too many levels of symbolic links",
                                             where=os.fsdecode(b"/".join(parts)))
                target = os.readlink(part, dir_fd=fds[-1])
                if target.startswith(b"/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                pending.extend(reversed(target.split(b"/")))
            return fds.pop()
        finally:
            for fd in fds:
                os.close(fd)

    def parent(self, parts: list[bytes]) -> int:
        """The directory holding ``parts[-1]``, cached for runs of siblings (the fd is owned
        by the cache: do not close it)."""
        key = tuple(parts[:-1])
        if key != self._cache_key:
            fd = self._walk(parts[:-1], create=True)
            assert fd is not None
            self._drop_cache()
            self._cache_key, self._cache_fd = key, fd
        return self._cache_fd

    # -- replacing what is there -------------------------------------------------------------

    def _clear(self, dfd: int, name: bytes, keep_dir: bool) -> bool:
        """Remove ``name`` unless it is a directory and ``keep_dir``; True if a dir remains."""
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            self._invalidate()
            shutil.rmtree(name, dir_fd=dfd)  # fd-based, never follows links
            return False
        if stat.S_ISLNK(st.st_mode):
            self._invalidate()  # a cached walk may have gone through this link
        os.unlink(name, dir_fd=dfd)
        return False

    # -- entries -----------------------------------------------------------------------------

    def apply(self, e: _Entry, r: _Reader) -> None:
        parts = _components(e.name)
        where = os.fsdecode(e.name)
        if not parts:
            if e.type != b"5":
                raise UnsafeContentError("the root entry of a layer must be a directory", where=where)
            self._dir_metadata(self.root_fd, e)
            self.dir_meta[()] = e
            return
        base = parts[-1]
        if base.startswith(b".wh."):
            self._whiteout(parts, where)
            r.skip(e.size + (-e.size % BLOCK), where)
            return
        self.unpacked.add(tuple(parts))
        dfd = self.parent(parts)
        t = e.type
        if t in (b"0", b"\x00", b"7"):
            self._clear(dfd, base, keep_dir=False)
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dfd)
            try:
                left = e.size
                while left:
                    data = r.read(min(left, READ_SIZE))
                    if not data:
                        raise IntegrityError("layer tar is truncated (in file data)", where=where)
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                    left -= len(data)
                self._fd_metadata(fd, e, where)
            finally:
                os.close(fd)
            r.skip(-e.size % BLOCK, where)
            return
        if e.size:
            r.skip(e.size + (-e.size % BLOCK), where)  # unknown types carry data we skip
        if t == b"5":
            if not self._clear(dfd, base, keep_dir=True):
                os.mkdir(base, 0o700, dir_fd=dfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=dfd)
            try:
                self._dir_metadata(fd, e)
            finally:
                os.close(fd)
            self.dir_meta[tuple(parts)] = e
        elif t == b"2":
            self._clear(dfd, base, keep_dir=False)
            os.symlink(e.linkname, base, dir_fd=dfd)
            self._lchown(dfd, base, e)
            os.utime(base, (e.mtime, e.mtime), dir_fd=dfd, follow_symlinks=False)
        elif t == b"1":
            self._hardlink(dfd, base, e, where)
        elif t in (b"3", b"4", b"6"):
            self._clear(dfd, base, keep_dir=False)
            kind = {b"3": stat.S_IFCHR, b"4": stat.S_IFBLK, b"6": stat.S_IFIFO}[t]
            try:
                os.mknod(base, kind | 0o600, os.makedev(e.devmajor, e.devminor) if t != b"6" else 0,
                         dir_fd=dfd)
            except PermissionError:
                emit(self.on_event, WARNING, f"{where}: skipped a device node (needs root)",
                     path=where)
                return
            self._lchown(dfd, base, e)
            os.chmod(base, e.mode, dir_fd=dfd)  # just made by us: not a link
            self._path_xattrs(dfd, base, e, where)
            os.utime(base, (e.mtime, e.mtime), dir_fd=dfd, follow_symlinks=False)
        else:
            emit(self.on_event, WARNING, f"{where}: skipped an entry of unknown type {t!r}", path=where)

    def _hardlink(self, dfd: int, base: bytes, e: _Entry, where: str) -> None:
        tparts = _components(e.linkname)
        if not tparts:
            raise UnsafeContentError("hard link to the root directory", where=where)
        sfd = self._walk(tparts[:-1], create=False)
        if sfd is None:
            raise UnsafeContentError(
                f"hard link target {os.fsdecode(e.linkname)!r} does not exist in the layer", where=where)
        try:
            try:
                st = os.stat(tparts[-1], dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError:
                raise UnsafeContentError(
                    f"hard link target {os.fsdecode(e.linkname)!r} does not exist in the layer",
                    where=where) from None
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeContentError("hard link to a directory", where=where)
            try:
                st2 = os.stat(base, dir_fd=dfd, follow_symlinks=False)
                same = (st2.st_dev, st2.st_ino) == (st.st_dev, st.st_ino)  # a link to itself, or repeated
            except FileNotFoundError:
                same = False
            if not same:
                self._clear(dfd, base, keep_dir=False)
                os.link(tparts[-1], base, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
            # the link entry's header describes the shared inode: its owner, mode and time win,
            # as Docker's and containers-storage's extraction apply them (mode and time not
            # through a symlink)
            self._lchown(dfd, base, e)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(base, e.mode, dir_fd=dfd)
                os.utime(base, (e.mtime, e.mtime), dir_fd=dfd, follow_symlinks=False)
        finally:
            os.close(sfd)

    def _whiteout(self, parts: list[bytes], where: str) -> None:
        base = parts[-1]
        if base == b".wh..wh..opq":
            self._opaque(parts[:-1], where)
            return
        if base.startswith(b".wh..wh."):
            return  # aufs metadata (.wh..wh.plnk, .wh..wh.aufs): nothing to apply
        victim = base[4:]
        if victim in (b"", b".", b".."):
            raise UnsafeContentError("invalid whiteout entry", where=where)
        self._drop_cache()
        if self.whiteouts == "overlay":
            dfd = self._walk(parts[:-1], create=True, follow=False)
            if dfd is None:
                raise UnsafeContentError("whiteout below a symbolic link", where=where)
            try:
                if tuple(parts[:-1] + [victim]) in self.unpacked:
                    return  # this layer also has the path: its entry already hides the lower one
                self._clear(dfd, victim, keep_dir=False)
                try:
                    os.mknod(victim, stat.S_IFCHR | 0o600, 0, dir_fd=dfd)
                except PermissionError:
                    raise UnsupportedError("overlay whiteouts (0/0 character devices) need root",
                                           where=where) from None
            finally:
                os.close(dfd)
            return
        dfd = self._walk(parts[:-1], create=False, follow=False)
        if dfd is None:
            return  # nothing there (or only through a link): nothing to delete
        try:
            self._clear(dfd, victim, keep_dir=False)
        finally:
            os.close(dfd)

    def _opaque(self, dparts: list[bytes], where: str) -> None:
        self._drop_cache()
        if self.whiteouts == "overlay":
            dfd = self._walk(dparts, create=True, follow=False)
            if dfd is None:
                raise UnsafeContentError("opaque whiteout below a symbolic link", where=where)
            try:
                os.setxattr(dfd, overlay_opaque_xattr(), b"y")
            except PermissionError:
                raise UnsupportedError("overlay opaque directories need root", where=where) from None
            finally:
                os.close(dfd)
            return
        dfd = self._walk(dparts, create=False, follow=False)
        if dfd is None:
            return
        try:
            self._empty(dfd, tuple(dparts))
        finally:
            os.close(dfd)

    def _empty(self, dfd: int, prefix: tuple[bytes, ...]) -> None:
        """Remove what lower layers put in a directory, keeping what this layer unpacked."""
        for sname in os.listdir(dfd):  # str names for an fd: encode back to the raw bytes
            name = os.fsencode(sname)
            path = (*prefix, name)
            if path not in self.unpacked:
                self._clear(dfd, name, keep_dir=False)
                continue
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError:
                continue  # not a directory: the layer's own file stays
            try:
                self._empty(sub, path)
            finally:
                os.close(sub)

    # -- metadata ----------------------------------------------------------------------------

    def _lchown(self, dfd: int, base: bytes, e: _Entry) -> None:
        if self.is_root:
            os.chown(base, e.uid, e.gid, dir_fd=dfd, follow_symlinks=False)

    def _fd_metadata(self, fd: int, e: _Entry, where: str) -> None:
        if self.is_root:
            os.fchown(fd, e.uid, e.gid)
        os.fchmod(fd, e.mode)  # after chown, which clears setuid/setgid
        self._set_xattrs(fd, e, where)
        os.utime(fd, (e.mtime, e.mtime))

    def _dir_metadata(self, fd: int, e: _Entry) -> None:
        # mode and times are set at the end: a read-only dir must still take its children,
        # and adding them would move its mtime
        if self.is_root:
            os.fchown(fd, e.uid, e.gid)
        self._set_xattrs(fd, e, os.fsdecode(e.name))

    def _path_xattrs(self, dfd: int, base: bytes, e: _Entry, where: str) -> None:
        if not e.xattrs:
            return
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            self._set_xattrs(f"/proc/self/fd/{fd}", e, where)
        finally:
            os.close(fd)

    def _set_xattrs(self, target: int | str, e: _Entry, where: str) -> None:
        for key, value in e.xattrs.items():
            if key.startswith(("trusted.overlay.", "user.overlay.")):
                emit(self.on_event, WARNING, f"{where}: ignored the overlay xattr {key} in the layer",
                     path=where)
                continue
            try:
                os.setxattr(target, key, value)
            except OSError as ex:
                if ex.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
                    emit(self.on_event, WARNING, f"{where}: could not set xattr {key}: {ex.strerror}",
                         path=where)
                    continue
                raise

    def finish(self) -> None:
        """Directory modes and times, deepest first, once nothing more is added."""
        self._drop_cache()
        for parts, e in sorted(self.dir_meta.items(), key=lambda kv: -len(kv[0])):
            if not parts:
                fd = os.dup(self.root_fd)
            else:
                found = self._walk(list(parts[:-1]), create=False)
                if found is None:
                    continue
                try:  # the directory itself, never a link that later replaced it
                    fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=found)
                except OSError:
                    continue
                finally:
                    os.close(found)
            try:
                os.fchmod(fd, e.mode)
                os.utime(fd, (e.mtime, e.mtime))
            finally:
                os.close(fd)


def apply_tar(stream: BinaryIO, target: bytes | str | os.PathLike[str], *, whiteouts: str = "overlay",
              limits: Limits | None = None, on_event: EventCallback | None = None) -> Digest:
    """Unpack the (possibly compressed) tar ``stream`` under ``target``; return its diff_id."""
    if whiteouts not in ("overlay", "apply"):
        raise ValueError(f"whiteouts must be 'overlay' or 'apply', not {whiteouts!r}")
    limits = limits or Limits()
    bounds = limits.decompression()
    reader = _Reader(decompressing_reader(stream, limits=bounds), bounds.max_size)
    where = os.fsdecode(target)
    try:
        applier = _Applier(os.fsencode(target), whiteouts, on_event)
    except OSError as e:
        raise UnsafeContentError(f"cannot open the extraction root: {e.strerror}", where=where) from e
    try:
        for entry in _entries(reader, limits):
            try:
                applier.apply(entry, reader)
            except OSError as e:
                raise StoreError(f"cannot unpack entry: {e.strerror}",
                                     where=f"{where}: {os.fsdecode(entry.name)}") from e
        applier.finish()
        reader.drain()
    except PybuildError:
        raise
    except OSError as e:
        raise StoreError(f"cannot unpack layer: {e}", where=where) from e
    except Exception as e:  # zlib/zstd errors on corrupt streams
        raise IntegrityError(f"cannot read layer: {e}", where=where) from e
    finally:
        applier.close()
    return reader.digest()


__all__ = ["Limits", "apply_tar"]
