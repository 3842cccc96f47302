"""Directory (or overlay upperdir) -> deterministic layer tar, in one streaming pass.

The tar is byte-compatible with what buildah/containers-storage emit through Go's
``archive/tar`` (so the same tree, with the same timestamps, gives the same diff_id):

- entries in walk order: each directory's names sorted bytewise, a directory before its
  children (Go's ``filepath.Walk`` order; note "a/x" comes before "a.txt");
  names relative, no "./" or "/" prefix, directories with a trailing "/"; the root itself is
  not an entry;
- ustar blocks (magic "ustar\\0", version "00"), numeric fields zero-padded octal with a NUL,
  the mode field keeping the file-type bits (``0100644``: Go's pre-1.9 behaviour that moby and
  containers-storage preserve), uname/gname empty, devmajor/devminor "0000000";
- a name that does not fit is split into ustar prefix/name when it can be, otherwise a PAX
  header (``DIR/PaxHeaders.0/BASE``) carries it, as it does non-ASCII names, long link targets,
  big uid/gid/size/mtime and xattrs (``SCHILY.xattr.*``; only ``user.*``,
  ``security.capability`` and ``security.ima`` are kept, as containers-storage does: a host's
  SELinux labels must not end up in an image);
- a second path to an inode already written becomes a hard link to the first;
- two zero blocks at the end, no padding to a 10 KiB record.

Speed: headers are packed with ``struct``; file bytes are read straight into large reusable
buffers; a second thread hashes (diff_id), compresses and hashes again (hashlib, zlib and
zstandard release the GIL), so reading and compressing overlap.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pybuild.errors import PybuildError, StoreError, UnsupportedError
from pybuild.oci.compress import CompressingWriter, check_format
from pybuild.oci.digest import Digest, HashingWriter
from pybuild.rootless import overlay_opaque_xattr

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
CHUNK = 4 << 20  # the unit handed from the reader to the hashing/compressing thread
FIRST_CHUNK = 256 << 10  # the first buffer: most step layers fit, and 12 MiB is not touched for them
_BUFFERS = 3  # full buffers in flight at most
_NAME = 100
_PREFIX = 155
_MAX_OCTAL8 = 0o7777777  # 7 digits + NUL
_MAX_OCTAL12 = 0o77777777777  # 11 digits + NUL

WHITEOUT_PREFIX = b".wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
_KEPT_XATTRS = ("security.capability", "security.ima")

# name(100) mode(8) uid(8) gid(8) size(12) mtime(12) chksum(8) type(1) linkname(100)
# magic(6) version(2) uname(32) gname(32) devmajor(8) devminor(8) prefix(155) pad(12)
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_MAGIC = b"ustar\x00"
_VERSION = b"00"
_ZERO7 = b"0000000\x00"
_ZERO11 = b"00000000000\x00"
# the same block as _HEADER, its numeric fields and device numbers each as one run of bytes
_FAST_HEADER = struct.Struct("100s48s8sc100s8s64x16s155s12x")
_ZERO_DEVS = _ZERO7 + _ZERO7
_CONSTANT_SUM = sum(b"        ") + sum(_MAGIC + _VERSION)  # the checksum field counts as spaces


def _octal(value: int, width: int) -> bytes:
    """Go's formatOctal: zero padded, NUL terminated."""
    return b"%0*o\x00" % (width - 1, value)


def _ascii(name: bytes) -> bytes:
    """Go's toASCII: drop every byte that is not 7-bit (each is part of a non-ASCII rune)."""
    return name if name.isascii() else bytes(b for b in name if b < 0x80)


def _field(name: bytes, size: int) -> bytes:
    """Go's formatString for a field that may be too short: truncate, and never leave a
    trailing slash in a truncated name (buggy readers would take it for a directory)."""
    if len(name) > size:
        name = name[:size]
        if name.endswith(b"/"):
            name = name.rstrip(b"/")
    return name


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Go's splitUSTARPath: (prefix, name) when a long ASCII name fits the two fields."""
    length = len(name)
    if length <= _NAME or not name.isascii():
        return None
    if length > _PREFIX + 1:
        length = _PREFIX + 1
    elif name[length - 1] == 0x2F:
        length -= 1
    i = name.rfind(b"/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > _NAME or nlen == 0 or i > _PREFIX:
        return None
    return name[:i], name[i + 1:]


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n = len(b"%d" % n) + len(body)
    return b"%d" % n + body


def _block(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, typeflag: bytes,
           linkname: bytes, devmajor: int, devminor: int, prefix: bytes = b"") -> bytes:
    """One ustar header block with its checksum (6 octal digits, NUL, space). Every field
    fits (the callers see to it), so the checksum, the sum of the block's bytes, is the sum
    of the few non-constant ones: one pack, no 512-byte sum (issue 19: 20000 files)."""
    nums = b"%07o\x00%07o\x00%07o\x00%011o\x00%011o\x00" % (mode, uid, gid, size, mtime)
    devs = b"%07o\x00%07o\x00" % (devmajor, devminor) if devmajor or devminor else _ZERO_DEVS
    chk = sum(name) + sum(nums) + typeflag[0] + sum(linkname) + sum(devs) + sum(prefix) + _CONSTANT_SUM
    return _FAST_HEADER.pack(name, nums, b"%06o\x00 " % chk, typeflag, linkname, _MAGIC + _VERSION, devs,
                             prefix)


def tar_header(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, typeflag: bytes,
               linkname: bytes = b"", devmajor: int = 0, devminor: int = 0,
               xattrs: dict[str, bytes] | None = None) -> bytes:
    """The header block(s) of one entry, choosing ustar or PAX exactly as Go's tar.Writer
    does for a ``FormatPAX`` header (what containers-storage asks for)."""
    if (not xattrs and len(name) <= _NAME and len(linkname) <= _NAME and name.isascii()
            and linkname.isascii() and uid <= _MAX_OCTAL8 and gid <= _MAX_OCTAL8
            and size <= _MAX_OCTAL12 and 0 <= mtime <= _MAX_OCTAL12):
        return _block(name, mode, uid, gid, size, mtime, typeflag, linkname, devmajor, devminor)
    if devmajor > _MAX_OCTAL8 or devminor > _MAX_OCTAL8:
        raise UnsupportedError(f"device number {devmajor}:{devminor} does not fit a tar header",
                               where=os.fsdecode(name))
    pax: dict[bytes, bytes] = {}
    prefix = b""
    vname = name
    if len(name) > _NAME or not name.isascii():
        # Go splits into ustar prefix/name only when nothing else needs PAX; otherwise the
        # full name goes in a PAX record and the ustar field holds it truncated
        split = _split_ustar(name)
        other_pax = (xattrs or len(linkname) > _NAME or not linkname.isascii() or uid > _MAX_OCTAL8
                     or gid > _MAX_OCTAL8 or size > _MAX_OCTAL12 or not 0 <= mtime <= _MAX_OCTAL12)
        if split is not None and not other_pax:
            prefix, vname = split
        else:
            pax[b"path"] = name
            vname = _field(_ascii(name), _NAME)
    vlink = linkname
    if len(linkname) > _NAME or not linkname.isascii():
        pax[b"linkpath"] = linkname
        vlink = _field(_ascii(linkname), _NAME)
    if uid > _MAX_OCTAL8:
        pax[b"uid"] = b"%d" % uid
        uid = 0
    if gid > _MAX_OCTAL8:
        pax[b"gid"] = b"%d" % gid
        gid = 0
    if size > _MAX_OCTAL12:
        pax[b"size"] = b"%d" % size
    if not 0 <= mtime <= _MAX_OCTAL12:
        pax[b"mtime"] = b"%d" % mtime
        mtime = 0
    for key, value in (xattrs or {}).items():
        pax[b"SCHILY.xattr." + key.encode("utf-8", "surrogateescape")] = value
    main = _block(vname, mode, uid, gid, size if size <= _MAX_OCTAL12 else 0, mtime, typeflag,
                  vlink, devmajor, devminor, prefix)
    if not pax:
        return main  # a long name that ustar's prefix field could hold
    data = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
    d, _, f = name.rstrip(b"/").rpartition(b"/") if not name.endswith(b"/") else (name.rstrip(b"/"), b"", b"")
    pname = (d + b"/PaxHeaders.0" if d else b"PaxHeaders.0") + (b"/" + f if f else b"")
    pname = _ascii(pname)[:_NAME].rstrip(b"/")
    head = _HEADER.pack(pname, _ZERO7, _ZERO7, _ZERO7, _octal(len(data), 12), _ZERO11, b"        ",
                        b"x", b"", _MAGIC, _VERSION, b"", b"", b"", b"", b"")
    head = head[:148] + b"%06o\x00 " % sum(head) + head[156:]
    return head + data + bytes(-len(data) % BLOCK) + main


_GZ_BLOCK = 1 << 20
_GZ_WINDOW = 32 << 10
# what zlib writes for a gzip stream at level 6: no name, mtime 0, OS "unix"
_GZ_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"


def _deflate(block: bytes, zdict: bytes, level: int, last: bool) -> bytes:
    if zdict:
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(block) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class ParallelGzip:
    """gzip on every core, pigz-style: the stream is cut into 1 MiB pieces at fixed offsets,
    each deflated independently (primed with the previous 32 KiB, ended with a sync flush)
    and concatenated into one valid gzip member. The bytes depend only on the input and the
    level, never on the number of threads, so layer digests stay reproducible; the output
    differs from single-stream zlib by a few bytes per MiB."""

    def __init__(self, out: BinaryIO | HashingWriter, level: int = 6, workers: int | None = None) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._out = out
        self._level = level
        self._workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="pybuild-gzip")
        self._pending: list[Future[bytes]] = []
        self._carry = bytearray()
        self._zdict = b""
        self._crc = 0
        self._size = 0
        out.write(_GZ_HEADER)

    def _submit(self, block: bytes, last: bool) -> None:
        self._pending.append(self._pool.submit(_deflate, block, self._zdict, self._level, last))
        self._zdict = block[-_GZ_WINDOW:]
        while len(self._pending) > 2 * self._workers:
            self._out.write(self._pending.pop(0).result())

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._crc = zlib.crc32(data, self._crc)
        n = len(data)
        self._size += n
        self._carry += data
        while len(self._carry) >= _GZ_BLOCK:
            block = bytes(self._carry[:_GZ_BLOCK])
            del self._carry[:_GZ_BLOCK]
            self._submit(block, False)
        return n

    def close(self) -> None:
        self._submit(bytes(self._carry), True)
        self._carry = bytearray()
        for f in self._pending:
            self._out.write(f.result())
        self._pending = []
        self._pool.shutdown()
        self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))


class _Pipeline:
    """Hands filled buffers to a thread that hashes the tar, compresses it and hashes the
    compressed bytes while the caller goes on reading files."""

    def __init__(self, out: BinaryIO, compression: str) -> None:
        self._diff = hashlib.sha256()
        self.size = 0
        self._compression = compression
        self._sink: HashingWriter | None = None
        self._compressor: CompressingWriter | ParallelGzip | None = None
        if compression == "none":
            self._out: BinaryIO | None = out
        else:
            self._out = None
            self._sink = HashingWriter(out)
            if compression == "gzip":
                self._compressor = ParallelGzip(self._sink)
            else:
                self._compressor = CompressingWriter(self._sink, compression)  # type: ignore[arg-type]
        self._work: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._made = 0  # buffers allocated, on demand (see take)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pybuild-layer-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                break
            buf, n = item
            try:
                if self._error is None:
                    view = memoryview(buf)[:n]
                    self._diff.update(view)
                    if self._compressor is not None:
                        self._compressor.write(view)
                    else:
                        assert self._out is not None
                        self._out.write(view)
                    view.release()
            except BaseException as e:  # reported to the caller by finish()
                self._error = e
            self._free.put(buf)
        try:
            if self._error is None and self._compressor is not None:
                self._compressor.close()
        except BaseException as e:
            self._error = e

    def take(self) -> bytearray:
        """A buffer to fill: a small one first (a layer of a few files touches no more memory),
        then up to _BUFFERS full ones, made when none is free (issue 19: a step's commit)."""
        if self._error is not None:
            self.abort()
        if self._made == 0:
            self._made = 1
            return bytearray(FIRST_CHUNK)
        try:
            buf: bytearray | None = self._free.get_nowait()
        except queue.Empty:
            buf = None
        if buf is None and self._made < _BUFFERS:
            self._made += 1
            return bytearray(CHUNK)
        if buf is None:
            buf = self._free.get()
        return buf if len(buf) == CHUNK else bytearray(CHUNK)  # the small first one is not reused

    def give(self, buf: bytearray, n: int) -> None:
        self.size += n
        self._work.put((buf, n))

    def abort(self) -> None:
        self._work.put(None)
        self._thread.join()
        error = self._error
        if isinstance(error, PybuildError):
            raise error
        raise StoreError(f"writing the layer failed: {error}") from error

    def finish(self) -> tuple[Digest, Digest, int]:
        self._work.put(None)
        self._thread.join()
        if self._error is not None:
            self.abort()
        diff_id = Digest("sha256:" + self._diff.hexdigest())
        if self._sink is None:
            return diff_id, diff_id, self.size
        return diff_id, self._sink.digest, self._sink.size

    def stop(self) -> None:
        """End the thread after an error in the reading side."""
        if self._thread.is_alive():
            self._work.put(None)
            self._thread.join()


class _TarStream:
    """Packs headers and file contents into the pipeline's buffers."""

    def __init__(self, pipe: _Pipeline) -> None:
        self._pipe = pipe
        self._buf = pipe.take()
        self._view = memoryview(self._buf)
        self._pos = 0
        self._cap = len(self._buf)

    def _flush(self) -> None:
        self._view.release()
        self._pipe.give(self._buf, self._pos)
        self._buf = self._pipe.take()
        self._view = memoryview(self._buf)
        self._pos = 0
        self._cap = len(self._buf)

    def add(self, data: bytes) -> None:
        n = len(data)
        if self._pos + n <= self._cap:
            self._view[self._pos:self._pos + n] = data
            self._pos += n
            return
        mv = memoryview(data)
        while mv:
            room = self._cap - self._pos
            if room == 0:
                self._flush()
                continue
            part = mv[:room]
            self._view[self._pos:self._pos + len(part)] = part
            self._pos += len(part)
            mv = mv[len(part):]

    def add_file(self, fd: int, size: int) -> None:
        """Copy exactly ``size`` bytes of ``fd`` (zero-filled if it shrank) plus padding."""
        left = size
        readv = os.readv
        while left:
            room = self._cap - self._pos
            if room == 0:
                self._flush()
                continue
            want = min(room, left)
            got = readv(fd, [self._view[self._pos:self._pos + want]])
            if got == 0:  # the file shrank while we read it: keep the header's promise
                self._view[self._pos:self._pos + want] = bytes(want)
                got = want
            self._pos += got
            left -= got
        pad = -size % BLOCK
        if pad:
            self.add(ZERO_BLOCK[:pad])

    def close(self) -> None:
        self.add(ZERO_BLOCK + ZERO_BLOCK)
        self._view.release()
        self._pipe.give(self._buf, self._pos)


def _xattrs(path: bytes, overlay_upper: bool) -> dict[str, bytes] | None:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return None
    if not names:
        return None
    kept: dict[str, bytes] = {}
    for name in sorted(names):
        if not (name.startswith("user.") or name in _KEPT_XATTRS):
            continue  # trusted.overlay.*, security.selinux, system.*: host facts, not content
        if name.startswith("user.overlay."):
            continue  # rootless overlay's own markers (tarapply never writes one from a tar)
        try:
            kept[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
    return kept or None


def _is_opaque(path: bytes) -> bool:
    try:
        return os.getxattr(path, overlay_opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False


def write_tar(source: Path, out: BinaryIO, *, compression: str = "none", overlay_upper: bool = False,
              timestamp: int | None = None, clamp_mtime: int | None = None,
              exclude: Callable[[str], bool] | None = None) -> tuple[Digest, Digest, int, int]:
    """Stream the layer tar of ``source``; return (diff_id, digest, size, uncompressed size)."""
    check_format(compression)
    root = os.fsencode(source)
    try:
        st = os.stat(root)
    except OSError as e:
        raise StoreError(f"cannot read layer source: {e.strerror}", where=str(source)) from e
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError("layer source is not a directory", where=str(source))
    pipe = _Pipeline(out, compression)
    try:
        tar = _TarStream(pipe)
        _walk(tar, root, overlay_upper, timestamp, clamp_mtime, exclude)
        tar.close()
    except BaseException:
        pipe.stop()
        raise
    diff_id, digest, size = pipe.finish()
    return diff_id, digest, size, pipe.size


def _walk(tar: _TarStream, root: bytes, overlay_upper: bool, timestamp: int | None,
          clamp_mtime: int | None, exclude: Callable[[str], bool] | None) -> None:
    seen: dict[tuple[int, int], bytes] = {}  # (dev, ino) -> first name, for hard links
    header = tar_header
    add = tar.add
    S_IFMT = 0o170000
    S_IFREG, S_IFDIR = stat.S_IFREG, stat.S_IFDIR
    open_flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC

    def listing(path: bytes) -> Iterator[os.DirEntry[bytes]]:
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            raise StoreError(f"cannot list directory: {e.strerror}", where=os.fsdecode(path)) from e
        entries.sort(key=lambda e: e.name)
        return iter(entries)

    # An explicit stack of (relative prefix, the directory's entries not yet written) keeps
    # deep trees off the C stack: a directory's loop runs until it meets a subdirectory,
    # which is pushed and walked first (issue 19: one loop, no tuple made per entry).
    stack: list[tuple[bytes, Iterator[os.DirEntry[bytes]]]] = [(b"", listing(root))]
    while stack:
        rel, entries = stack[-1]
        for entry in entries:
            name = rel + entry.name
            if exclude is not None and exclude(os.fsdecode(name)):
                continue
            path = entry.path
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished while we walked
            mode = st.st_mode
            fmt = mode & S_IFMT
            if timestamp is not None:
                mtime = timestamp
            else:
                mtime = st.st_mtime_ns // 1_000_000_000
                if clamp_mtime is not None and mtime > clamp_mtime:
                    mtime = clamp_mtime
            uid, gid = st.st_uid, st.st_gid
            if fmt == S_IFREG:
                xattrs = _xattrs(path, overlay_upper)
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    first = seen.get(key)
                    if first is not None:
                        add(header(name, mode, uid, gid, 0, mtime, b"1", first, xattrs=xattrs))
                        continue
                    seen[key] = name
                size = st.st_size
                try:
                    fd = os.open(path, open_flags)
                except OSError as e:
                    raise StoreError(f"cannot read file: {e.strerror}", where=os.fsdecode(path)) from e
                try:
                    add(header(name, mode, uid, gid, size, mtime, b"0", xattrs=xattrs))
                    if size:
                        tar.add_file(fd, size)
                finally:
                    os.close(fd)
            elif fmt == S_IFDIR:
                dname = name + b"/"
                xattrs = _xattrs(path, overlay_upper)
                add(header(dname, mode, uid, gid, 0, mtime, b"5", xattrs=xattrs))
                if overlay_upper and _is_opaque(path):
                    # containers-storage: an empty regular file, the dir's permissions and owner, time 0
                    wmtime = timestamp if timestamp is not None else 0
                    add(header(dname + WHITEOUT_OPAQUE, mode & 0o777, uid, gid, 0, wmtime, b"0"))
                stack.append((dname, listing(path)))
                break  # the directory's entries next, then the rest of this one's
            elif fmt == stat.S_IFLNK:
                target = os.readlink(path)
                add(header(name, mode, uid, gid, 0, mtime, b"2", target, xattrs=_xattrs(path, overlay_upper)))
            elif fmt == stat.S_IFCHR or fmt == stat.S_IFBLK:
                major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
                if overlay_upper and fmt == stat.S_IFCHR and major == 0 and minor == 0:
                    # an overlay whiteout (often a hard link to one shared inode: never a link here)
                    wname = rel + WHITEOUT_PREFIX + entry.name
                    add(header(wname, 0o600, uid, gid, 0, mtime, b"0"))
                    continue
                xattrs = _xattrs(path, overlay_upper)
                add(header(name, mode, uid, gid, 0, mtime, b"3" if fmt == stat.S_IFCHR else b"4",
                           b"", major, minor, xattrs=xattrs))
            elif fmt == stat.S_IFIFO:
                add(header(name, mode, uid, gid, 0, mtime, b"6", xattrs=_xattrs(path, overlay_upper)))
            # sockets (and anything else) are not archived, as tar and containers-storage do
        else:
            stack.pop()  # every entry of this directory written


__all__ = ["write_tar", "tar_header", "WHITEOUT_PREFIX", "WHITEOUT_OPAQUE"]
