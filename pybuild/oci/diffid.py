"""Checking a layer's diff_id while its compressed bytes stream in.

A pulled layer is verified by its blob digest, but the config's diff_id (the digest of the
uncompressed tar) is what every later use trusts: a wrong one, stored, is only noticed at
first unpack and spreads with the next push. :class:`DiffIdTee` passes a blob's bytes on
unchanged and feeds a copy to a decompressor in a thread of its own (zlib and zstd release
the GIL, so decompression runs beside the download, and beside other layers' copies).
:meth:`DiffIdTee.check`, called by a layout's write-aside once the blob digest is verified
and before the blob is visible, raises :class:`~pybuild.errors.IntegrityError` on a mismatch
(a corrupt blob is reported as such first, not as an undecompressable one).
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from typing import BinaryIO

from pybuild.errors import IntegrityError, PybuildError
from pybuild.oci.compress import decompressing_reader
from pybuild.oci.digest import CHUNK, Digest
from pybuild.oci.limits import DecompressionLimits

_QUEUED_CHUNKS = 16  # bounds the memory a slow decompressor makes the download wait on


class _QueueReader(io.RawIOBase):
    """The bytes put on a queue, as a stream; ``None`` on the queue ends it."""

    def __init__(self, q: queue.Queue[bytes | None]) -> None:
        self._q = q
        self._buf = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf and not self._eof:
            chunk = self._q.get()
            if chunk is None:
                self._eof = True
            else:
                self._buf = chunk
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        while not self._eof:
            if self._q.get() is None:
                self._eof = True


class DiffIdTee:
    """A reader of ``raw`` whose :meth:`check`, after the end, says whether the bytes
    decompressed to ``diff_id``; then :attr:`size` is the uncompressed size.

    ``what`` names the layer in the error. Close it (or use ``with``) in every case."""

    def __init__(self, raw: BinaryIO, diff_id: Digest | str, what: str, *,
                 limits: DecompressionLimits | None = None) -> None:
        self._raw = raw
        self._limits = limits  # None: pybuild.conf's [layers] (a bomb stops with one line)
        self.diff_id = Digest(diff_id)
        self.what = what
        self.size = 0
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self._feed = _QueueReader(self._q)
        self._got: Digest | None = None
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._decompress, name="diff-id", daemon=True)
        self._thread.start()

    def _decompress(self) -> None:
        try:
            h = hashlib.new(self.diff_id.algorithm)
            plain = decompressing_reader(self._feed, limits=self._limits, where=self.what)  # type: ignore[arg-type]
            while chunk := plain.read(CHUNK):
                h.update(chunk)
                self.size += len(chunk)
            self._got = Digest(f"{self.diff_id.algorithm}:{h.hexdigest()}")
        except BaseException as e:  # noqa: BLE001 - reported by _finish in the reading thread
            self._error = e
        finally:
            self._feed.drain()  # never leave the reading thread blocked on a full queue

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._q.put(bytes(data))
        return data

    def check(self) -> None:
        """At the end of the stream: raise IntegrityError unless it decompressed to diff_id."""
        self._end()
        if isinstance(self._error, PybuildError):
            raise self._error
        if self._error is not None:
            raise IntegrityError(f"{self.what}: cannot decompress: {self._error}")
        if self._got != self.diff_id:
            raise IntegrityError(f"{self.what}: its content has diff_id {self._got}, "
                                 f"but the image config says {self.diff_id}")

    def readable(self) -> bool:
        return True

    def __enter__(self) -> DiffIdTee:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _end(self) -> None:
        if not self._done:
            self._done = True
            self._q.put(None)
            self._thread.join()

    def close(self) -> None:
        self._end()
        self._raw.close()
