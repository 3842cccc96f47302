"""Manifest lists (multi-platform image indexes) kept in the local store, as buildah keeps them.

A list is a record in ``ROOT/manifest-lists.json`` — its name, the digest of its index
JSON (stored as a blob, so ``manifest push`` sends those exact bytes) and, per instance
(child manifest digest), where the instance's blobs come from: a store image
(``{"image": ID}``) or a transport spec (``{"source": "docker://..."}``) whose blobs are
fetched only when the list is pushed. Each instance's manifest and config are copied
into the store when it is added (they are small, and they give the platform), so
``inspect`` never needs the network.

The records themselves (read, find, save, delete, and what gc keeps of them) are
manifest_records.py, below this module's operations, which stand on the transports.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from pybuild.builder.manifest_records import (
    RECORDS,
    ManifestList,
    create,
    delete,
    find,
    get,
    lists,
    referenced,
    save,
)
from pybuild.builder.store import Store
from pybuild.errors import DigestMismatch, ImageNotFound, IntegrityError, StoreError, UserError
from pybuild.events import EventCallback
from pybuild.oci import spec
from pybuild.oci.digest import Digest

# --- adding instances ------------------------------------------------------------------------------


@dataclass
class _Found:
    raw: bytes
    media_type: str
    platform: spec.Platform
    origin: dict[str, str]


def _platform(config_raw: bytes, arch: str | None, os: str | None, variant: str | None) -> spec.Platform:
    cfg = spec.ImageConfig.from_json(config_raw)
    base = cfg.platform
    return replace(base, os=os or base.os, architecture=arch or base.architecture,
                   variant=variant if variant is not None else (None if arch else base.variant))


def _from_store(store: Store, ref: str, compression: str | None) -> _Found:
    from pybuild.builder.store_transport import StoreSource

    img = store.image(ref)
    raw, media_type = StoreSource(store, img, compression=compression).get_manifest()
    store.layout.put_bytes(raw)
    return _Found(raw, media_type, spec.Platform("", ""), {"image": img.id})


def _from_transport(store: Store, source_spec: str, platform: str | None, all_platforms: bool,
                    options: dict[str, Any]) -> list[_Found]:
    """Read the manifest(s) and config(s) of ``source_spec``, keep them in the store."""
    from pybuild.oci.transport import open_source, select_manifest

    src = open_source(source_spec, **options)
    try:
        raw, media_type = src.get_manifest()
        doc = spec.parse_manifest(raw, media_type)
        chosen: list[tuple[bytes, str]] = []
        if isinstance(doc, spec.Index):
            if all_platforms:
                wanted = [d for d in doc.manifests if not (d.platform and d.platform.is_unknown())]
            else:
                wanted = [select_manifest(doc, platform, src.reference)]
            for desc in wanted:
                child, child_mt = src.get_manifest(desc.digest)
                if len(child) != desc.size or Digest.of_bytes(child, desc.digest.algorithm) != desc.digest:
                    raise DigestMismatch(f"manifest {desc.digest} does not match its descriptor",
                                         where=src.reference)
                chosen.append((child, desc.media_type if desc.media_type in spec.MANIFEST_TYPES else child_mt))
        else:
            chosen.append((raw, doc.media_type))
        out: list[_Found] = []
        for child, child_mt in chosen:
            manifest = spec.parse_manifest(child, child_mt)
            if not isinstance(manifest, spec.Manifest):
                raise IntegrityError("an index lists another index", where=src.reference)
            if not store.layout.has_blob(manifest.config.digest):
                reader = src.get_blob(manifest.config)
                try:
                    store.layout.put_blob(reader, manifest.config.digest, manifest.config.size)
                finally:
                    reader.close()
            store.layout.put_bytes(child)
            out.append(_Found(child, manifest.media_type, spec.Platform("", ""), {"source": source_spec}))
        return out
    finally:
        src.close()


def add(store: Store, name: str, image: str, *, arch: str | None = None, os: str | None = None,
        variant: str | None = None, annotations: dict[str, str] | None = None, all_platforms: bool = False,
        compression: str | None = None, **options: Any) -> list[Digest]:
    """Add ``image`` (a store image, a transport spec, or a registry reference) to list ``name``.

    An instance with the same digest is replaced. ``options`` are registry options
    (tls_verify, creds...) for reading a remote image; they are not stored, so pass them
    again to :func:`push`. Returns the digests added.
    """
    from pybuild.oci.transport import is_transport_spec

    lst = get(store, name)
    if is_transport_spec(image):
        found = _from_transport(store, image, _want(arch, os, variant), all_platforms, options)
    elif store.find_image(image) is not None:
        found = [_from_store(store, image, compression)]
    else:
        found = _from_transport(store, f"docker://{image}", _want(arch, os, variant), all_platforms, options)
    entries = list(lst.index.manifests)
    instances = dict(lst.instances)
    added: list[Digest] = []
    for f in found:
        manifest = spec.parse_manifest(f.raw, f.media_type)
        assert isinstance(manifest, spec.Manifest)
        cfg = store.layout.read_blob(manifest.config.digest, manifest.config.size)
        platform = _platform(cfg, arch, os, variant)
        digest = Digest.of_bytes(f.raw)
        desc = spec.Descriptor(manifest.media_type, digest, len(f.raw), annotations=annotations or None,
                               platform=platform)
        entries = [e for e in entries if e.digest != digest] + [desc]
        instances[str(digest)] = f.origin
        added.append(digest)
    save(store, replace(lst.index, manifests=entries), lst.name, instances)
    return added


def _want(arch: str | None, os: str | None, variant: str | None) -> str | None:
    if not arch and not os:
        return None
    from pybuild.oci.platform_host import host_platform

    hp = host_platform()
    text = f"{os or 'linux'}/{arch or hp.architecture}"
    return f"{text}/{variant}" if variant else text


def remove(store: Store, name: str, digest: str) -> None:
    """Drop the instance ``digest`` from list ``name``."""
    lst = get(store, name)
    entries = [e for e in lst.index.manifests if str(e.digest) != digest]
    if len(entries) == len(lst.index.manifests):
        raise ImageNotFound(f"manifest list {lst.name} has no instance {digest}")
    instances = {k: v for k, v in lst.instances.items() if k != digest}
    save(store, replace(lst.index, manifests=entries), lst.name, instances)


def annotate(store: Store, name: str, instance: str, *, arch: str | None = None, os: str | None = None,
             variant: str | None = None, os_version: str | None = None, os_features: list[str] | None = None,
             features: list[str] | None = None, annotations: dict[str, str] | None = None) -> Digest:
    """buildah's ``manifest annotate``: change the platform or annotations the list records for
    ``instance`` (its digest, or a local image whose manifest is in the list); returns its digest."""
    if features:
        raise UserError("manifest annotate --features: not supported (OCI indexes have no platform features)")
    lst = get(store, name)
    digest = instance if instance.startswith("sha256:") else None
    if digest is None and store.find_image(instance) is not None:
        digest = str(Digest.of_bytes(_from_store(store, instance, None).raw))
    entries = list(lst.index.manifests)
    at = next((i for i, e in enumerate(entries) if str(e.digest) == digest), None)
    if at is None:
        raise ImageNotFound(f"manifest list {lst.name} has no instance {instance}")
    old = entries[at]
    p = old.platform or spec.Platform("", "")
    p = replace(p, os=os or p.os, architecture=arch or p.architecture, variant=variant or p.variant,
                os_version=os_version or p.os_version, os_features=tuple(os_features) if os_features else p.os_features)
    merged = {**(old.annotations or {}), **(annotations or {})}
    entries[at] = replace(old, platform=p, annotations=merged or None)
    save(store, replace(lst.index, manifests=entries), lst.name, lst.instances)
    return old.digest


# --- pushing ---------------------------------------------------------------------------------------


class ManifestListSource:
    """A list as an ImageSource: index and manifests from the store, blobs from the store
    or, when absent, from the instance's recorded transport (opened on first need)."""

    def __init__(self, lst: ManifestList, options: dict[str, Any] | None = None) -> None:
        assert lst.store is not None
        self.store = lst.store
        self.list = lst
        self.reference = lst.name
        self._options = options or {}
        self._raw = lst.raw
        self._owner: dict[str, str] = {}  # blob digest -> instance digest
        self._sources: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None:
            return self._raw, spec.OCI_INDEX
        if str(digest) not in self.list.instances:
            raise ImageNotFound(f"manifest list {self.reference} has no instance {digest}")
        raw = bytes(self.store.layout.read_blob(digest))
        doc = spec.parse_manifest(raw)
        if isinstance(doc, spec.Manifest):
            for d in doc.descriptors():
                self._owner.setdefault(str(d.digest), str(digest))
        return raw, doc.media_type

    def get_blob(self, desc: spec.Descriptor) -> BinaryIO:
        if self.store.layout.has_blob(desc.digest):
            return self.store.layout.open_raw(desc.digest, desc.size)
        instance = self._owner.get(str(desc.digest))
        origin = self.list.instances.get(instance or "", {})
        source_spec = origin.get("source")
        if not source_spec:
            what = f"image {origin['image'][:12]}" if origin.get("image") else "the local store"
            raise StoreError(f"blob {desc.digest} of instance {instance} is missing from {what} "
                             "(was the image removed?)", where=self.reference)
        from pybuild.oci.transport import open_source

        with self._lock:
            src = self._sources.get(source_spec)
            if src is None:
                src = self._sources[source_spec] = open_source(source_spec, **self._options)
        return src.get_blob(desc)

    def close(self) -> None:
        for src in self._sources.values():
            with contextlib.suppress(Exception):
                src.close()
        self._sources.clear()


def _attestations(store: Store, lst: ManifestList) -> dict[str, tuple[list[Any], str]]:
    """Instance digest -> (the predicates its store image's build recorded, the subject name)."""
    from pybuild.builder.attest import predicates_for_push
    from pybuild.builder.provenance import image_uri

    out: dict[str, tuple[list[Any], str]] = {}
    for digest, origin in sorted(lst.instances.items()):
        image = store.find_image(origin["image"]) if origin.get("image") else None
        predicates = predicates_for_push(store, image) if image is not None else []
        if predicates and image is not None:
            from pybuild.oci.platform_host import config_platform

            out[digest] = (predicates, image_uri(lst.name, str(config_platform(image.config))))
    return out


def push(store: Store, name: str, dest_spec: str, *, all_instances: bool = True, format: str | None = None,
         compression: str | None = None, on_event: EventCallback | None = None,
         source_options: dict[str, Any] | None = None, **options: Any) -> Digest:
    """Copy list ``name`` (with every instance when ``all_instances``) to ``dest_spec``.

    Without ``all_instances`` only the index is written: its instances must already be
    at the destination. Returns the digest of the index written.
    """
    from pybuild.oci.transport import copy_image, open_destination

    lst = get(store, name)
    if not lst.index.manifests:
        raise UserError(f"manifest list {lst.name} is empty (add images with `manifest add`)")
    src = ManifestListSource(lst, source_options if source_options is not None else options)
    try:
        dst = open_destination(dest_spec, **options)
        try:
            attested = _attestations(store, lst)
            if all_instances and attested:  # bud --platform a,b --sbom...: each instance's attestations
                from pybuild.oci.attestation import copy_index_attested

                return copy_index_attested(src, dst, attested, format=format, compression=compression,
                                           on_event=on_event)
            if all_instances:
                return copy_image(src, dst, all_platforms=True, format=format, compression=compression,
                                  on_event=on_event)
            raw = lst.raw
            index = lst.index
            if format == "docker" and not index.is_docker:
                raw = spec.to_docker_manifest(index).to_json()
            media_type = spec.parse_manifest(raw).media_type
            dst.put_manifest(raw, media_type, top_level=True)
            dst.commit()
            return Digest.of_bytes(raw)
        finally:
            with contextlib.suppress(Exception):
                dst.close()
    finally:
        src.close()


def push_named(store: Store, name: str, dest_spec: str, *, format: str | None = None,
               compression: str | None = None, on_event: Any = None, **options: Any) -> Digest:
    """``push NAME``: the image NAME, or, when NAME is a manifest list (a multi-platform build's
    ``-t``/``--manifest``), the list with every instance; returns the top-level digest written."""
    from pybuild.builder.store_transport import push_from_store

    if store.find_image(name) is None and find(store, name) is not None:
        return push(store, name, dest_spec, format=format, compression=compression, on_event=on_event, **options)
    return push_from_store(store, store.image(name), dest_spec, format=format, compression=compression,
                           on_event=on_event, subject=name, **options)


__all__ = ["ManifestList", "ManifestListSource", "RECORDS", "find", "get", "lists", "create", "delete",
           "add", "remove", "push", "push_named", "referenced"]
