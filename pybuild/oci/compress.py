"""Streaming compression for layers: none, gzip, zstd.

Never holds a whole layer in memory: readers and writers wrap file objects.
Decompression sniffs the magic bytes rather than trusting a media type, as
containers/image does, and stops at the first end of stream (trailing bytes
after a gzip member are ignored by tar readers anyway). Every decompressing
reader is bounded (``DecompressionLimits``: a total size, and a ratio of output to
input once past a floor), so a small blob expanding to terabytes stops with one
line wherever layers are decompressed: unpacking, recompressing, archives.
"""

from __future__ import annotations

import contextlib
import io
import os
import zlib
from typing import TYPE_CHECKING, BinaryIO

from pybuild.errors import ConfigError, UnsafeContentError

if TYPE_CHECKING:  # (read on first decompression: a layer writer needs no pybuild.conf reader)
    from pybuild.oci.limits import DecompressionLimits

NONE = "none"
GZIP = "gzip"
ZSTD = "zstd"
FORMATS = (NONE, GZIP, ZSTD)

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"


def detect(head: bytes) -> str:
    """The compression of a stream from its first bytes: gzip, zstd, bzip2, xz or none."""
    if head.startswith(_GZIP_MAGIC):
        return GZIP
    if head.startswith(_ZSTD_MAGIC):
        return ZSTD
    if head.startswith(_BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(_XZ_MAGIC):
        return "xz"
    return NONE


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown compression format {fmt!r} (use gzip, zstd or none)")
    return fmt


class _GzipReader(io.RawIOBase):
    """Decompresses gzip members one after another (concatenated members are legal)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(b)
        while not self._buf and not self._eof:
            chunk = self._d.unconsumed_tail or self._raw.read(1 << 20)
            if not chunk:
                if not self._d.eof:
                    raise zlib.error("truncated gzip stream")
                self._eof = True
                break
            self._buf = self._d.decompress(chunk, max(n, 1 << 16))
            if self._d.eof:
                rest = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if rest.startswith(_GZIP_MAGIC):
                    self._buf += self._d.decompress(rest, max(n, 1 << 16))
                elif rest.strip(b"\0"):
                    self._eof = True  # trailing garbage: stop, as tar readers do
                else:
                    head = _peek(self._raw, 2)  # a network stream may return one byte
                    if head.startswith(_GZIP_MAGIC):
                        self._buf += self._d.decompress(head, max(n, 1 << 16))
                    else:
                        self._eof = True
        data, self._buf = self._buf[:n], self._buf[n:]
        b[: len(data)] = data
        return len(data)


def decompressing_reader(raw: BinaryIO, fmt: str | None = None, *, limits: DecompressionLimits | None = None,
                         where: str | None = None) -> BinaryIO:
    """A reader of the uncompressed bytes of ``raw`` (compression sniffed unless given),
    bounded by ``limits`` (default: pybuild.conf's ``[layers]``); ``where`` names the
    blob in the error."""
    if fmt is None:
        head = _peek(raw)
        fmt = detect(head)
        raw = _Prefixed(head, raw)  # type: ignore[assignment]
    if fmt == NONE:
        return raw
    counted = _Counting(raw)
    inner: BinaryIO
    if fmt == GZIP:
        inner = _GzipReader(counted)  # type: ignore[arg-type,assignment]
    elif fmt == ZSTD:
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(
            counted, read_size=1 << 20, read_across_frames=True)  # type: ignore[arg-type]
    elif fmt == "bzip2":
        import bz2

        inner = bz2.BZ2File(counted)  # type: ignore[assignment]
    elif fmt == "xz":
        import lzma

        inner = lzma.LZMAFile(counted)  # type: ignore[arg-type,assignment]
    else:
        raise ConfigError(f"unknown compression format {fmt!r}")
    if limits is None:
        from pybuild.oci.limits import current

        limits = current().layers
    bounded = _Bounded(inner, counted, limits, where)
    return io.BufferedReader(bounded, 1 << 20)


class _Counting(io.RawIOBase):
    """Counts the compressed bytes the decompressor consumed (the ratio's denominator)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(b))
        b[: len(data)] = data
        self.count += len(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n) or b""
        self.count += len(data)
        return data


class _Bounded(io.RawIOBase):
    """Stops a decompression bomb: more than ``max_size`` bytes out, or (past ``ratio_floor``)
    more than ``max_ratio`` bytes out per byte in."""

    def __init__(self, inner: BinaryIO, counted: _Counting, limits: DecompressionLimits,
                 where: str | None) -> None:
        self._inner = inner
        self._counted = counted
        self._limits = limits
        self._where = where
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._inner.readinto(b)  # type: ignore[attr-defined]
        if not n:
            return 0
        self.out += n
        lim = self._limits
        if self.out > lim.max_size:
            raise UnsafeContentError(f"decompressed data exceeds the limit of {_size(lim.max_size)} "
                                     "(max_size of [layers]): a decompression bomb?", where=self._where)
        if self.out > lim.ratio_floor and self.out > lim.max_ratio * max(self._counted.count, 1):
            raise UnsafeContentError(
                f"decompressed data is over {lim.max_ratio:g} times its compressed size "
                f"({_size(self.out)} from {_size(self._counted.count)}; max_ratio of [layers]): "
                "a decompression bomb?", where=self._where)
        return int(n)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()


def _size(n: int) -> str:
    from pybuild.oci.limits import human_size

    return human_size(n)


class _Prefixed(io.RawIOBase):
    """Re-attaches bytes already read from the head of a stream."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if self._head and (n < 0 or n >= len(self._head)):
            head, self._head = self._head, b""
            rest = self._raw.read(-1 if n < 0 else n - len(head))
            return head + (rest or b"")
        return super().read(n) or b""


def _peek(raw: BinaryIO, n: int = 6) -> bytes:
    """The first ``n`` bytes (fewer only at EOF): one read() may return less."""
    head = b""
    while len(head) < n:
        chunk = raw.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


class CompressingWriter:
    """Compresses what is written into ``out``; ``close()`` ends the stream but leaves ``out`` open."""

    def __init__(self, out: BinaryIO, fmt: str, level: int | None = None, threads: int | None = None) -> None:
        self._out = out
        self.format = check_format(fmt)
        self._gz: zlib._Compress | None = None
        self._zw = None
        if fmt == GZIP:
            # gzip header with mtime 0 and no name: the same bytes every time (reproducible digests)
            self._gz = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif fmt == ZSTD:
            import zstandard

            workers = threads if threads is not None else max(0, min(4, (os.cpu_count() or 1)))
            params = zstandard.ZstdCompressionParameters.from_level(
                3 if level is None else level, threads=workers if workers > 1 else 0)
            self._zw = zstandard.ZstdCompressor(compression_params=params).stream_writer(
                out, closefd=False, write_return_read=True)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._gz is not None:
            out = self._gz.compress(data)
            if out:
                self._out.write(out)
        elif self._zw is not None:
            self._zw.write(data)
        else:
            self._out.write(data)
        return len(data)

    def close(self) -> None:
        if self._gz is not None:
            self._out.write(self._gz.flush())
            self._gz = None
        elif self._zw is not None:
            self._zw.close()
            self._zw = None


def compressing_writer(out: BinaryIO, fmt: str, level: int | None = None) -> CompressingWriter:
    return CompressingWriter(out, fmt, level)


__all__ = ["NONE", "GZIP", "ZSTD", "FORMATS", "detect", "check_format", "decompressing_reader",
           "CompressingWriter", "compressing_writer"]
