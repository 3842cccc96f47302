"""A blob download as a file that resumes a broken connection (``Range``), bounded in size and time.

Apart from client.py: the reader is a state machine of its own over one ``Repository``'s
GET (``Repository.open_blob`` makes one).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from pybuild.errors import DigestMismatch, RegistryError
from pybuild.oci import limits as limits_mod
from pybuild.oci.digest import Digest
from pybuild.oci.registry.replies import _describe, timeout_message

if TYPE_CHECKING:
    from pybuild.oci.registry.client import Repository

__all__ = ["BlobReader"]


class BlobReader(io.RawIOBase):
    """A blob's bytes as a file; a broken connection is resumed with ``Range: bytes=N-``.

    The bytes are not verified here — the ImageDestination's put_blob does that (digest and
    size) before anything becomes visible — but the reader stops at the descriptor's size
    (a body that never ends, or junk after the blob, is not read), refuses a reply whose
    Content-Length announces more, and gives up when the whole transfer outlasts ``blob_timeout``. A stall
    (nothing for ``idle_timeout``) is resumed once, as a dropped connection; a second one
    ends the transfer. ``read(n)`` returns ``n`` bytes unless the blob ends first.
    """

    def __init__(self, repo: Repository, digest: Digest, size: int | None,
                 on_progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.digest = digest
        self.size = size
        self.offset = 0
        self.resumes = 0
        self.stalls = 0
        self._resp: httpx.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._buf = b""
        self._eof = False
        self._on_progress = on_progress
        self._deadline = time.monotonic() + repo.client.options.blob_timeout

    @property
    def _where(self) -> str:
        return self.repo._what(f"@{self.digest}")

    def readable(self) -> bool:
        return True

    def open(self) -> None:
        self._check_deadline()
        resp = self.repo._get_blob_response(self.digest, self.offset)
        skip = 0
        if self.offset:
            if resp.status_code == 206:
                start = _content_range_start(resp.headers.get("content-range", ""))
                if start != self.offset:
                    resp.close()
                    raise RegistryError(f"registry resumed the blob at byte {start}, asked {self.offset}",
                                        where=self._where)
            else:
                skip = self.offset  # no Range support: read again from the start, drop what we have
        announced = resp.headers.get("content-length", "")
        if self.size is not None and announced.isdigit() and int(announced) + self.offset - skip > self.size:
            resp.close()
            raise DigestMismatch(f"registry announces {int(announced) + self.offset - skip} bytes, the "
                                 f"descriptor {self.size}", where=self._where)
        self._resp = resp
        if resp.is_stream_consumed:  # already read (an in-memory transport)
            self._iter = iter([resp.content])
        else:
            self._iter = resp.iter_raw()  # no chunk_size: a partial buffer would be lost on a reset
        while skip:
            try:
                data = self._next_raw()
            except httpx.TransportError as e:
                raise RegistryError(f"blob download broke again while skipping to byte {self.offset}: "
                                    f"{_describe(e)}", where=self._where) from None
            if not data:
                break
            if len(data) > skip:
                self._buf = data[skip:]
                skip = 0
            else:
                skip -= len(data)

    def _next_raw(self) -> bytes:
        assert self._iter is not None
        try:
            return next(self._iter, b"")
        except httpx.TimeoutException as e:
            if self.stalls:  # the second stall: the registry, not the connection, is stuck
                raise RegistryError(f"blob download stalled at byte {self.offset}: "
                                    f"{timeout_message(e, self.repo.client.host, self.repo.client.options)}",
                                    where=self._where) from None
            self.stalls += 1
            raise

    def _next_chunk(self) -> bytes:
        while True:
            self._check_deadline()
            try:
                data = self._next_raw()
            except httpx.TransportError as e:
                self._resume(e)
                continue
            if not data and self.size is not None and self.offset < self.size:
                self._resume(None)
                continue
            return data

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            opts = self.repo.client.options
            total = "" if self.size is None else f" of {self.size}"
            raise RegistryError(f"blob download took longer than {limits_mod.describe(opts.blob_timeout)} "
                                f"(blob_timeout; {self.offset}{total} bytes received)", where=self._where)

    def _resume(self, error: Exception | None) -> None:
        policy = self.repo.client.options.retry
        if self._resp is not None:
            self._resp.close()
        if self.resumes >= policy.max_resumes:
            why = _describe(error) if error else "connection closed early"
            raise RegistryError(f"blob download broke at byte {self.offset} ({why}); gave up after "
                                f"{self.resumes} resumes", where=self._where)
        self.resumes += 1
        time.sleep(min(policy.base_delay * (2 ** (self.resumes - 1)), policy.max_delay))
        self.open()

    def readinto(self, b: Any) -> int:
        if self._eof:
            return 0
        if self.size is not None and self.offset >= self.size and not self._buf:
            self._finish()  # the descriptor's size: never wait for (or take) more
            return 0
        if not self._buf:
            self._buf = self._next_chunk()
            if not self._buf:
                self._finish()
                return 0
            if self.size is not None and self.offset + len(self._buf) > self.size:
                # what follows the descriptor's size is not the blob: never taken, never awaited
                self._buf = self._buf[: self.size - self.offset]
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.offset += n
        if self._on_progress:
            self._on_progress(self.offset)
        return n

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes, fewer only at the end of the blob (RawIOBase would return one chunk)."""
        if n is None or n < 0:
            return self.readall()
        parts: list[bytes] = []
        left = n
        while left > 0:
            buf = bytearray(min(left, 1 << 20))
            got = self.readinto(buf)
            if not got:
                break
            parts.append(bytes(buf[:got]))
            left -= got
        return b"".join(parts)

    def _finish(self) -> None:
        self._eof = True
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None
        super().close()


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, _, rng = value.partition(" ")
        return int(rng.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None
