"""Where a remote step cache is kept: a registry repository or an OCI layout directory.

Both speak the same five verbs (a manifest by tag, a blob by descriptor, whether a blob is
there, put a blob, put a manifest under a tag), so the import and export code above knows
nothing of HTTP or directories. Counters say how many bytes went each way (benchmarks,
``--explain-cache``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, BinaryIO

from pybuild.builder.cache_spec import LOCAL, CacheLocation
from pybuild.errors import ImageNotFound, RegistryNotFound
from pybuild.oci import spec
from pybuild.oci.digest import Digest


class _Counted:
    """A stream that adds what passes through it to a counter."""

    def __init__(self, raw: BinaryIO, add: Callable[[int], None]) -> None:
        self.raw, self.add = raw, add

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.add(len(data))
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend:
    """The verbs a cache location offers; subclasses keep the counters honest."""

    def __init__(self) -> None:
        self.pulled = 0  # bytes read (manifests and blobs)
        self.pushed = 0  # bytes written
        self.requests = 0

    def _pull(self, n: int) -> None:
        self.pulled += n

    def get_manifest(self, tag: str) -> bytes | None:
        raise NotImplementedError

    def open_blob(self, desc: spec.Descriptor) -> BinaryIO:
        raise NotImplementedError

    def has_blob(self, desc: spec.Descriptor) -> bool:
        raise NotImplementedError

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        raise NotImplementedError

    def put_manifest(self, raw: bytes, tag: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class RegistryBackend(Backend):
    """A repository in a registry (the registry itself, never a mirror: a cache is written back)."""

    def __init__(self, repository: str, options: Any) -> None:
        super().__init__()
        from pybuild.oci.registry.client import RegistryClient
        from pybuild.oci.registry.transport import resolve

        _, endpoints = resolve(repository, options, pull=False)
        ep = endpoints[-1]
        self.client = RegistryClient(ep.registry, options, insecure=ep.insecure)
        self.name = ep.repository
        self._read = self.client.repository(ep.repository)
        self._write: Any = None

    def _writer(self) -> Any:
        if self._write is None:
            self._write = self.client.repository(self.name, push=True)
        return self._write

    def get_manifest(self, tag: str) -> bytes | None:
        self.requests += 1
        try:
            raw, _, _ = self._read.get_manifest(tag)
        except RegistryNotFound:
            return None
        self.pulled += len(raw)
        return bytes(raw)

    def open_blob(self, desc: spec.Descriptor) -> BinaryIO:
        self.requests += 1
        reader: Any = self._read.open_blob(str(desc.digest), desc.size)
        return _Counted(reader, self._pull)  # type: ignore[return-value]

    def has_blob(self, desc: spec.Descriptor) -> bool:
        self.requests += 1
        return bool(self._writer().blob_exists(str(desc.digest)))

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        from pybuild.errors import AuthError
        from pybuild.oci.registry.client import known_locations

        repo = self._writer()
        location = None
        for source in [r for r in known_locations(self.client.registry, desc.digest) if r != self.name][:3]:
            self.requests += 1
            try:
                location = repo.mount_blob(str(desc.digest), source)  # cross-repository mount
            except (AuthError, RegistryNotFound):
                continue
            if location is None:
                return
            break
        self.requests += 1
        repo.upload_blob(stream, str(desc.digest), desc.size, location=location)
        self.pushed += desc.size

    def put_manifest(self, raw: bytes, tag: str) -> None:
        self.requests += 1
        self._writer().put_manifest(raw, spec.OCI_MANIFEST, tag)
        self.pushed += len(raw)

    def close(self) -> None:
        self.client.close()


class LayoutBackend(Backend):
    """An OCI image layout directory; the tag is the index entry's ref name."""

    def __init__(self, path: str, *, create: bool) -> None:
        super().__init__()
        from pybuild.oci.layout import Layout

        self.path = path
        self._create = create
        self._layout: Any = None
        if not create:
            with contextlib.suppress(ImageNotFound):
                self._layout = Layout.open(path)

    @property
    def layout(self) -> Any:
        if self._layout is None:
            from pybuild.oci.layout import Layout

            self._layout = Layout.create(self.path)
        return self._layout

    def get_manifest(self, tag: str) -> bytes | None:
        self.requests += 1
        if self._layout is None:
            return None
        try:
            desc = self._layout.resolve(tag)
        except ImageNotFound:
            return None
        if desc.size > spec.MAX_DOCUMENT_SIZE:
            from pybuild.errors import IntegrityError

            raise IntegrityError(f"cache manifest claims {desc.size} bytes", where=self.path)
        raw = bytes(self._layout.read_blob(desc.digest, desc.size))
        self.pulled += len(raw)
        return raw

    def open_blob(self, desc: spec.Descriptor) -> BinaryIO:
        self.requests += 1
        if self._layout is None:
            raise ImageNotFound(f"no OCI layout at {self.path}")
        return _Counted(self._layout.open_raw(desc.digest, desc.size), self._pull)  # type: ignore[return-value]

    def has_blob(self, desc: spec.Descriptor) -> bool:
        return bool(self.layout.has_blob(desc.digest, desc.size))

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        self.layout.put_blob(stream, desc.digest, desc.size)
        self.pushed += desc.size

    def put_manifest(self, raw: bytes, tag: str) -> None:
        digest, size = self.layout.put_bytes(raw)
        self.layout.set_ref(tag, spec.Descriptor(spec.OCI_MANIFEST, Digest(digest), size))
        self.pushed += len(raw)


def open_backend(loc: CacheLocation, registry_options: dict[str, Any], *, write: bool) -> Backend:
    """The backend for ``loc``; ``registry_options`` are the build's (--tls-verify, --creds...)."""
    if loc.kind == LOCAL:
        return LayoutBackend(loc.ref, create=write)
    from pybuild.oci.registry.options import from_keywords

    opts = from_keywords(None, registry_options)
    repository = loc.ref.rsplit(":", 1)[0] if loc.ref.rfind(":") > loc.ref.rfind("/") else loc.ref
    return RegistryBackend(repository, opts)


def tag_of(loc: CacheLocation) -> str:
    """The tag a BUNDLE or LOCAL cache is kept under."""
    if loc.kind == LOCAL:
        return loc.tag
    return loc.ref.rsplit(":", 1)[1]
