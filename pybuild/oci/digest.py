"""Content digests: parsing that refuses anything unsafe, hashing while streaming.

A digest string ends up in file names (blobs/sha256/HEX) and URLs, so it is
validated before any use (CVE-2024-3727): a known algorithm, lowercase hex of
the exact length.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from pybuild.errors import DigestMismatch, IntegrityError
from pybuild.lazyre import lazy

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_PATTERN = lazy(r"^(sha256|sha512):([0-9a-f]+)$")
CHUNK = 1 << 20


class Digest(str):
    """A validated ``algorithm:hex`` string (a str, so it serialises as itself)."""

    __slots__ = ()

    def __new__(cls, value: str) -> Digest:
        if isinstance(value, Digest):
            return value
        m = _PATTERN.match(value) if isinstance(value, str) else None
        if not m or len(m.group(2)) != _HEX_LENGTH[m.group(1)]:
            raise IntegrityError(f"invalid digest {value!r}")
        return super().__new__(cls, value)

    @property
    def algorithm(self) -> str:
        return self.split(":", 1)[0]

    @property
    def hex(self) -> str:
        return self.split(":", 1)[1]

    @property
    def short(self) -> str:
        """The 12-hex-digit form buildah prints."""
        return self.hex[:12]

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")

    @classmethod
    def of_file(cls, path: str, algorithm: str = "sha256") -> Digest:
        h = hashlib.new(algorithm)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return cls(f"{algorithm}:{h.hexdigest()}")


def parse_digest(value: str) -> Digest:
    """Validate ``value`` as a digest or raise :class:`IntegrityError`."""
    return Digest(value)


def is_digest(value: str) -> bool:
    try:
        Digest(value)
    except IntegrityError:
        return False
    return True


def read_upto(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, reading until EOF: one ``read(n)`` of a network stream (or a
    decompressor) may return any part of the n bytes asked for."""
    parts: list[bytes] = []
    got = 0
    while got < limit:
        chunk = stream.read(min(CHUNK, limit - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class HashingWriter:
    """A write-only file wrapper that hashes and counts what passes through."""

    def __init__(self, out: BinaryIO | None, algorithm: str = "sha256") -> None:
        self._out = out
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        n = len(data)
        self.size += n
        if self._out is not None:
            self._out.write(data)
        return n

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    @property
    def digest(self) -> Digest:
        return Digest(f"{self._algorithm}:{self._hash.hexdigest()}")


class VerifyingReader:
    """Reads ``raw`` and raises :class:`DigestMismatch` at EOF (or on excess
    bytes) unless the content matches ``expected`` digest and ``size``."""

    def __init__(self, raw: BinaryIO, expected: Digest | str, size: int | None = None) -> None:
        self._raw = raw
        self.expected = Digest(expected)
        self._hash = hashlib.new(self.expected.algorithm)
        self._size = size
        self.read_bytes = 0
        self._verified = False

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.read_bytes += len(data)
            if self._size is not None and self.read_bytes > self._size:
                raise DigestMismatch(
                    f"blob {self.expected} is larger than its descriptor's {self._size} bytes")
            self._hash.update(data)
        if not data or n < 0:
            self._check()
        return data

    def readable(self) -> bool:
        return True

    def _check(self) -> None:
        if self._verified:
            return
        if self._size is not None and self.read_bytes != self._size:
            raise DigestMismatch(
                f"blob {self.expected}: got {self.read_bytes} bytes, expected {self._size}")
        got = f"{self.expected.algorithm}:{self._hash.hexdigest()}"
        if got != self.expected:
            raise DigestMismatch(f"blob content has digest {got}, expected {self.expected}")
        self._verified = True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Digest", "parse_digest", "is_digest", "HashingWriter", "VerifyingReader", "CHUNK"]
