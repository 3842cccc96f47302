"""One ``copy_image()`` over every transport.

A transport is a pair of small protocols: an :class:`ImageSource` hands out manifest
bytes and raw blob streams, an :class:`ImageDestination` takes them and publishes the
result at ``commit()``. ``copy_image`` is the only place that decides what to copy,
and it verifies every blob (digest and size) while streaming it into the destination.

Spellings: ``oci:DIR[:REF]``, ``oci-archive:FILE[:REF]``,
``docker-archive:FILE[:NAME:TAG|:@N]``, ``dir:DIR``, ``docker://REF`` (handled by
``pybuild.oci.registry.transport``, imported lazily), ``containers-storage:[STORE]NAME``
(podman's store, through skopeo: ``pybuild.oci.containers_storage``), and any transport registered with
:func:`register_transport` (the local store registers itself this way).

Bytes stay exact: unless a format or compression change is asked for, the manifest
written is the manifest read, so its digest is unchanged.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any, BinaryIO, Protocol, runtime_checkable

from pybuild.errors import (
    ConfigError,
    DigestMismatch,
    ImageNotFound,
    IntegrityError,
    InvalidReference,
    PybuildError,
    UnsupportedError,
)
from pybuild.events import BLOB, INFO, WARNING, EventCallback, emit
from pybuild.oci.digest import CHUNK, Digest, HashingWriter, VerifyingReader
from pybuild.oci.spec import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Index,
    Manifest,
    Platform,
    compression_of,
    is_layer,
    layer_media_type,
    parse_manifest,
    pick_platform,
    to_docker_manifest,
    to_oci_manifest,
)
from pybuild.oci.transport_names import BUILTIN as _BUILTIN
from pybuild.oci.transport_names import REGISTERED as _REGISTERED
from pybuild.oci.transport_names import is_transport_spec


@runtime_checkable
class ImageSource(Protocol):
    reference: str  # for messages

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        """The top-level manifest or index (exact bytes, media type); with digest: that child."""
        ...

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        """Raw bytes of a blob; copy_image verifies them."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImageDestination(Protocol):
    reference: str

    def has_blob(self, desc: Descriptor) -> bool: ...

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        """Store a blob; it must be verified before it becomes visible."""
        ...

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None: ...

    def commit(self) -> None:
        """Make the name visible, atomically."""
        ...

    def close(self) -> None: ...


SourceOpener = Callable[..., ImageSource]
DestinationOpener = Callable[..., ImageDestination]



def register_transport(name: str, opener_source: SourceOpener | None,
                       opener_destination: DestinationOpener | None) -> None:
    """Add a transport ``name:`` (e.g. the local store); openers get the text after the colon
    and the keyword options given to open_source/open_destination."""
    if not name or ":" in name or "/" in name:
        raise ConfigError(f"invalid transport name {name!r}")
    _REGISTERED[name] = (opener_source, opener_destination)


def unregister_transport(name: str) -> None:
    _REGISTERED.pop(name, None)


def transports() -> list[str]:
    return sorted({*_BUILTIN, *_REGISTERED})


def split_spec(spec: str) -> tuple[str, str]:
    """``oci:/x:tag`` -> (``oci``, ``/x:tag``); ``docker://busybox`` -> (``docker``, ``busybox``)."""
    name, sep, rest = spec.partition(":")
    if not sep or not name:
        raise InvalidReference(f"{spec!r} names no transport (use oci:, oci-archive:, docker-archive:, "
                               "dir:, containers-storage: or docker://)")
    if name == "docker":
        if not rest.startswith("//") or not rest[2:]:
            raise InvalidReference(f"{spec!r}: the docker transport is spelled docker://REFERENCE")
        rest = rest[2:]
    elif not rest:
        raise InvalidReference(f"{spec!r}: missing path after {name}:")
    return name, rest


def _registry_module() -> Any:
    try:
        return importlib.import_module("pybuild.oci.registry.transport")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("pybuild"):
            raise UnsupportedError("the docker:// transport is not available in this build") from None
        raise


def open_source(spec: str, **options: Any) -> ImageSource:
    """Open an image to read; ``options`` go to registry and registered transports."""
    name, rest = split_spec(spec)
    if name in _REGISTERED and _REGISTERED[name][0] is not None:
        return _REGISTERED[name][0](rest, **options)  # type: ignore[misc]
    from pybuild.oci import archive

    if name == "oci":
        return archive.open_oci_source(rest)
    if name == "oci-archive":
        return archive.open_oci_archive_source(rest)
    if name == "docker-archive":
        return archive.open_docker_archive_source(rest)
    if name == "dir":
        return archive.open_dir_source(rest)
    if name == "docker":
        return _registry_module().open_source(rest, **options)
    if name == "containers-storage":
        from pybuild.oci import containers_storage

        return containers_storage.open_source(rest, **options)
    raise InvalidReference(f"unknown transport {name!r} in {spec!r} (known: {', '.join(transports())})")


def open_destination(spec: str, **options: Any) -> ImageDestination:
    """Open an image to write; nothing is visible until ``commit()``."""
    name, rest = split_spec(spec)
    if name in _REGISTERED and _REGISTERED[name][1] is not None:
        return _REGISTERED[name][1](rest, **options)  # type: ignore[misc]
    from pybuild.oci import archive

    if name == "oci":
        return archive.open_oci_destination(rest)
    if name == "oci-archive":
        return archive.open_oci_archive_destination(rest)
    if name == "docker-archive":
        return archive.open_docker_archive_destination(rest)
    if name == "dir":
        return archive.open_dir_destination(rest)
    if name == "docker":
        return _registry_module().open_destination(rest, **options)
    if name == "containers-storage":
        from pybuild.oci import containers_storage

        return containers_storage.open_destination(rest, **options)
    raise InvalidReference(f"unknown transport {name!r} in {spec!r} (known: {', '.join(transports())})")


# --- platform selection -----------------------------------------------------------------------

def _want_platform(platform: Platform | str | None) -> Platform:
    if isinstance(platform, Platform):
        return platform
    if platform:
        return Platform.parse(platform)
    from pybuild.oci.platform_host import host_platform

    host = host_platform()
    return Platform(host.os, host.architecture, host.variant)


def select_manifest(index: Index, platform: Platform | str | None = None, where: str = "") -> Descriptor:
    """The index entry for ``platform`` (default: this host), skipping attestations."""
    want = _want_platform(platform)
    entries = [d for d in index.manifests if not (d.platform and d.platform.is_unknown())]
    best = pick_platform(entries, want)
    if best is not None:
        return best
    if len(entries) == 1 and entries[0].platform is None:
        return entries[0]
    available = ", ".join(str(d.platform) for d in entries if d.platform) or "none"
    raise ImageNotFound(f"{where + ': ' if where else ''}no image for platform {want} (available: {available})")


# --- copying ------------------------------------------------------------------------------------

_MAX_NESTING = 4
_PROGRESS_STEP = 8 << 20


class _Progress:
    """Counts bytes read and reports them as BLOB events every few MiB."""

    def __init__(self, raw: BinaryIO, on_event: EventCallback | None, desc: Descriptor, action: str) -> None:
        self._raw = raw
        self._on_event = on_event
        self._desc = desc
        self._action = action
        self.done = 0
        self._last = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.done += len(data)
        if self._on_event is not None and self.done - self._last >= _PROGRESS_STEP:
            self._last = self.done
            emit(self._on_event, BLOB, f"{self._action} blob {self._desc.digest.short}",
                 digest=str(self._desc.digest), done=self.done, total=self._desc.size, action=self._action)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()


class _Copier:
    def __init__(self, src: ImageSource, dst: ImageDestination, format: str | None,
                 compression: str | None, on_event: EventCallback | None) -> None:
        self.src = src
        self.dst = dst
        self.format = format
        self.compression = compression
        self.on_event = on_event
        self._recompressed: dict[tuple[Digest, str, bool], Descriptor] = {}

    def _event(self, desc: Descriptor, action: str, done: int) -> None:
        emit(self.on_event, BLOB, f"{action} blob {desc.digest.short}", digest=str(desc.digest),
             done=done, total=desc.size, action=action)

    def fetch_child(self, desc: Descriptor) -> tuple[bytes, str]:
        """A child manifest, checked against the descriptor that names it."""
        raw, mt = self.src.get_manifest(desc.digest)
        if len(raw) != desc.size or Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest:
            raise DigestMismatch(f"{self.src.reference}: manifest {desc.digest} does not match its descriptor")
        if desc.media_type in (*MANIFEST_TYPES, *INDEX_TYPES):
            mt = desc.media_type
        return raw, mt

    def copy_blob(self, desc: Descriptor) -> None:
        if self.dst.has_blob(desc):
            self._event(desc, "skip", desc.size)
            return
        self._event(desc, "copy", 0)
        raw = self.src.get_blob(desc)
        try:
            progress = _Progress(raw, self.on_event, desc, "copy")
            if getattr(self.dst, "verifies_blobs", False):
                # the destination checks digest and size before the blob is visible (a layout
                # hashes as it writes, a registry refuses a wrong digest): hashing here too
                # would only double the CPU
                self.dst.put_blob(desc, progress)  # type: ignore[arg-type]
            else:
                reader = VerifyingReader(progress, desc.digest, desc.size)  # type: ignore[arg-type]
                self.dst.put_blob(desc, reader)  # type: ignore[arg-type]
                # Read to EOF whatever the destination left (it may have stopped early, or
                # found the blob already there): the final digest and size check runs at EOF.
                while reader.read(CHUNK):
                    pass
        finally:
            raw.close()
        self._event(desc, "copy", desc.size)

    def recompress(self, desc: Descriptor, want: str, docker: bool) -> Descriptor:
        from pybuild.oci.compress import CompressingWriter, decompressing_reader  # (a copy that recompresses)

        key = (desc.digest, want, docker)
        if key in self._recompressed:
            return self._recompressed[key]
        self._event(desc, "recompress", 0)
        with tempfile.TemporaryFile(dir=getattr(self.dst, "tmpdir", None)) as tmp:
            raw = self.src.get_blob(desc)
            try:
                reader = VerifyingReader(_Progress(raw, self.on_event, desc, "recompress"),  # type: ignore[arg-type]
                                         desc.digest, desc.size)
                out = HashingWriter(tmp)
                writer = CompressingWriter(out, want)  # type: ignore[arg-type]
                try:
                    plain = decompressing_reader(reader,  # type: ignore[arg-type]
                                                 where=f"{self.src.reference}: layer {desc.digest}")
                    while chunk := plain.read(CHUNK):
                        writer.write(chunk)
                except PybuildError:
                    raise
                except Exception as e:  # noqa: BLE001 - zlib/zstd: say whether the blob is corrupt
                    while reader.read(CHUNK):
                        pass  # a blob that is not what its digest says raises DigestMismatch here
                    raise IntegrityError(f"{self.src.reference}: layer {desc.digest} cannot be "
                                         f"decompressed: {e}") from None
                writer.close()
                while reader.read(CHUNK):
                    pass
            finally:
                raw.close()
            new = Descriptor(layer_media_type(want, docker=docker), out.digest, out.size)
            self._event(desc, "recompress", desc.size)
            if self.dst.has_blob(new):
                self._event(new, "skip", new.size)
            else:
                tmp.seek(0)
                self._event(new, "copy", 0)
                self.dst.put_blob(new, tmp)
                self._event(new, "copy", new.size)
        self._recompressed[key] = new
        return new

    def copy_manifest(self, raw: bytes, media_type: str, doc: Manifest, top_level: bool) -> tuple[bytes, str]:
        docker_out = self.format == "docker" or (self.format is None and doc.is_docker)
        if docker_out and self.compression == "zstd":
            if self.format == "docker":
                raise ConfigError("zstd compression cannot be used with the docker format")
            docker_out = False  # a Docker manifest cannot carry zstd: write OCI, as containers/image does
        self.copy_blob(doc.config)
        expect = getattr(self.dst, "expect_manifest", None)
        if expect is not None:  # a destination that checks layers against the config (the store)
            expect(doc)

        def copy_layer(layer: Descriptor) -> Descriptor:
            want = self.compression
            if want is None and docker_out and compression_of(layer.media_type) == "zstd":
                want = "gzip"
            if want is not None and is_layer(layer.media_type) and compression_of(layer.media_type) != want:
                return self.recompress(layer, want, doc.is_docker and docker_out)
            self.copy_blob(layer)
            return layer

        # several layers at once where both ends allow it (registries, layouts, the store):
        # one blob at a time leaves the network or the disk idle between round trips
        workers = min(getattr(self.src, "parallel", 1), getattr(self.dst, "parallel", 1), len(doc.layers))
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor  # (not on a local build's path)

            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blob") as pool:
                layers = list(pool.map(copy_layer, doc.layers))
        else:
            layers = [copy_layer(layer) for layer in doc.layers]
        new = replace(doc, layers=layers)
        if docker_out and not doc.is_docker:
            new = to_docker_manifest(new)
        elif not docker_out and doc.is_docker:
            new = to_oci_manifest(new)
        if new != doc:
            raw, media_type = new.to_json(), new.media_type
        self.dst.put_manifest(raw, media_type, top_level=top_level)
        return raw, media_type

    def copy_index(self, raw: bytes, media_type: str, doc: Index, top_level: bool, depth: int) -> tuple[bytes, str]:
        if not getattr(self.dst, "supports_index", True):
            raise UnsupportedError(f"{self.dst.reference} holds a single image; choose a platform instead "
                                   "of copying all of them")
        entries: list[Descriptor] = []
        for desc in doc.manifests:
            child_raw, child_mt = self.fetch_child(desc)
            out_raw, out_mt = self.copy_doc(child_raw, child_mt, top_level=False, depth=depth + 1)
            if out_raw is child_raw:
                entries.append(desc)
            else:
                entries.append(replace(desc, media_type=out_mt, digest=Digest.of_bytes(out_raw), size=len(out_raw)))
        new = replace(doc, manifests=entries)
        if self.format == "docker" and not doc.is_docker:
            new = to_docker_manifest(new)
        elif self.format == "oci" and doc.is_docker:
            new = to_oci_manifest(new)
        elif self.format is None and doc.is_docker and any(e.media_type not in (DOCKER_MANIFEST,) for e in entries):
            new = to_oci_manifest(new)  # children became OCI (zstd): a manifest list cannot point at them
        if new != doc:
            raw, media_type = new.to_json(), new.media_type
        self.dst.put_manifest(raw, media_type, top_level=top_level)
        return raw, media_type

    def copy_doc(self, raw: bytes, media_type: str, *, top_level: bool, depth: int = 0) -> tuple[bytes, str]:
        if depth > _MAX_NESTING:
            raise IntegrityError(f"{self.src.reference}: image indexes nest more than {_MAX_NESTING} deep")
        doc = parse_manifest(raw, media_type)
        media_type = doc.media_type
        if isinstance(doc, Index):
            return self.copy_index(raw, media_type, doc, top_level, depth)
        return self.copy_manifest(raw, media_type, doc, top_level)


def copy_image(src: ImageSource, dst: ImageDestination, *, platform: Platform | str | None = None,
               all_platforms: bool = False, format: str | None = None, compression: str | None = None,
               on_event: EventCallback | None = None) -> Digest:
    """Copy one image (or all platforms of an index) and commit; returns the manifest digest written.

    ``format``: None (keep), ``"oci"`` or ``"docker"``; ``compression``: None (keep),
    ``"gzip"``, ``"zstd"`` or ``"none"`` (layers are recompressed as a stream; diff_ids
    do not change).
    """
    if format not in (None, "oci", "docker"):
        raise ConfigError(f"unknown manifest format {format!r} (use oci or docker)")
    if compression is not None:
        from pybuild.oci.compress import check_format  # (not on a local build's path: zstandard)

        check_format(compression)
    if format == "docker" and compression == "zstd":
        raise ConfigError("zstd compression cannot be used with the docker format")
    copier = _Copier(src, dst, format, compression, on_event)
    raw, media_type = src.get_manifest()
    doc = parse_manifest(raw, media_type)
    depth = 0
    while isinstance(doc, Index) and not all_platforms:
        depth += 1
        if depth > _MAX_NESTING:
            raise IntegrityError(f"{src.reference}: image indexes nest more than {_MAX_NESTING} deep")
        desc = select_manifest(doc, platform, src.reference)
        if any((e.annotations or {}).get("vnd.docker.reference.digest") == str(desc.digest) for e in doc.manifests):
            emit(on_event, WARNING, f"{src.reference}: the image's attestations are left out "
                                    "(one platform is copied; copy --all keeps them)")
        raw, media_type = copier.fetch_child(desc)
        doc = parse_manifest(raw, media_type)
    out_raw, _ = copier.copy_doc(raw, doc.media_type, top_level=True)
    digest = Digest.of_bytes(out_raw)
    emit(on_event, INFO, f"Writing manifest {digest} to {dst.reference}", digest=str(digest))
    dst.commit()
    return digest


def copy(src_spec: str, dst_spec: str, *, source_options: dict[str, Any] | None = None,
         destination_options: dict[str, Any] | None = None, **kwargs: Any) -> Digest:
    """Open both ends by their spellings, copy_image, close them."""
    src = open_source(src_spec, **(source_options or {}))
    try:
        dst = open_destination(dst_spec, **(destination_options or {}))
        try:
            return copy_image(src, dst, **kwargs)
        finally:
            dst.close()
    finally:
        src.close()


__all__ = ["ImageSource", "ImageDestination", "register_transport", "unregister_transport", "transports",
           "split_spec", "is_transport_spec", "open_source", "open_destination", "select_manifest",
           "copy_image", "copy"]
