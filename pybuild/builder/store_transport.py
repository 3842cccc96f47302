"""The local store as a transport endpoint: pull lands here, push starts here.

A pulled image keeps its manifest and blobs exactly as they came. A built image
has no manifest until it leaves the store: one is made on the way out, with the
layer blobs produced in the requested compression (and kept for the next push).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from pybuild.builder.store import Image, Store
from pybuild.errors import IntegrityError, StoreError
from pybuild.oci import spec
from pybuild.oci.digest import Digest


class StoreSource:
    """Reads an image of the store as an ImageSource."""

    parallel = 4  # blobs are plain files

    def __init__(self, store: Store, image: Image, *, compression: str | None = None,
                 on_event: Any = None) -> None:
        self.store = store
        self.image = image
        self.reference = image.names[0] if image.names else image.id
        self.compression = compression
        self.on_event = on_event
        self._manifest: tuple[bytes, str] | None = None

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if self._manifest is None:
            self._manifest = self._make_manifest()
        raw, media_type = self._manifest
        if digest is not None and Digest.of_bytes(raw) != digest:
            return self.store.layout.read_blob(digest), media_type
        return self._manifest

    def _make_manifest(self) -> tuple[bytes, str]:
        img = self.image
        if img.manifest:
            raw = self.store.layout.read_blob(Digest(img.manifest["digest"]))
            return raw, img.manifest.get("mediaType") or spec.OCI_MANIFEST
        compression = self.compression or "gzip"
        media_type = spec.layer_media_type(compression)
        def blob(diff_id: str) -> spec.Descriptor:
            entry = self.store.layer_blob(diff_id, compression, media_type, on_event=self.on_event)
            return spec.Descriptor(media_type, Digest(entry["digest"]), int(entry["size"]))

        # a built layer's blob is made on first push (tar + compress): on both cores at once
        with ThreadPoolExecutor(max_workers=max(1, min(2, len(img.layers)))) as pool:
            layers = list(pool.map(blob, img.layers))
        config = img.config_bytes
        annotations = self.store.image_meta(img.id).get("annotations") or None  # bud --annotation
        manifest = spec.Manifest(spec.Descriptor(spec.OCI_CONFIG, img.digest, len(config)), layers,
                                 annotations=annotations)
        return manifest.to_json(), spec.OCI_MANIFEST

    def get_blob(self, desc: spec.Descriptor) -> BinaryIO:
        path = self.store.root / "blobs" / desc.digest.algorithm / desc.digest.hex
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it (and verifies it)
        except FileNotFoundError:
            raise StoreError(f"blob {desc.digest} of image {self.reference} is missing from the store") from None

    def close(self) -> None:
        pass


class StoreDestination:
    """Receives an image into the store as an ImageDestination; ``commit`` records it."""

    parallel = 4  # the layout writes each blob to its own temp file
    verifies_blobs = True  # Layout.put_blob checks digest and size before the rename

    def __init__(self, store: Store, names: list[str] | None = None) -> None:
        self.store = store
        self.names = list(names or [])
        self.reference = self.names[0] if self.names else "local store"
        self._manifest: tuple[bytes, str] | None = None
        self.image: Image | None = None
        self._added: set[str] = set()  # blobs this copy created, discarded if it never commits

    def has_blob(self, desc: spec.Descriptor) -> bool:
        return self.store.reuse_blob(desc.digest, desc.size)  # leased, and only at the right size

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        existed = self.store.layout.has_blob(desc.digest)
        self.store.layout.put_blob(stream, desc.digest, desc.size)
        if not existed:
            self._added.add(str(desc.digest))

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        if top_level:
            self._manifest = (raw, media_type)
        else:
            digest, _ = self.store.layout.put_bytes(raw)
            self._added.add(str(digest))

    def commit(self) -> None:
        if self._manifest is None:
            raise StoreError("no manifest was received")
        raw, media_type = self._manifest
        doc = spec.parse_manifest(raw, media_type)
        if not isinstance(doc, spec.Manifest):
            raise StoreError("an image index cannot be stored as one image; choose a platform")
        config_bytes = self.store.layout.read_blob(doc.config.digest, doc.config.size)
        config = spec.ImageConfig.from_json(config_bytes)
        diff_ids = [str(d) for d in config.rootfs_diff_ids]
        layers = [d for d in doc.layers if spec.is_layer(d.media_type)]
        if len(diff_ids) != len(layers):
            raise IntegrityError(f"image {self.reference}: {len(layers)} layers but "
                                 f"{len(diff_ids)} diff_ids in its config")
        manifest_digest, _ = self.store.layout.put_bytes(raw)
        media = doc.media_type or media_type
        self.image = self.store.add_image(config_bytes, diff_ids, names=self.names,
                                          manifest={"digest": str(manifest_digest), "mediaType": media},
                                          created=config.created or "")
        self._added.clear()

    def close(self) -> None:
        if self.image is None:
            self.store.discard_blobs(self._added)


def pull_into_store(store: Store, source_spec: str, *, names: list[str] | None = None,
                    platform: str | None = None, on_event: Any = None, **options: Any) -> Image:
    """Copy the image at ``source_spec`` (any transport) into the store; returns it."""
    from pybuild.oci.transport import copy_image, open_source

    src = open_source(source_spec, **options)
    dst = StoreDestination(store, names)
    try:
        copy_image(src, dst, platform=platform, on_event=on_event)
    finally:
        with contextlib.suppress(Exception):
            src.close()
        dst.close()
    assert dst.image is not None
    return dst.image


def push_from_store(store: Store, image: Image, dest_spec: str, *, format: str | None = None,
                    compression: str | None = None, on_event: Any = None, **options: Any) -> Digest:
    """Copy ``image`` out of the store to ``dest_spec``; returns the manifest digest written."""
    from pybuild.oci.transport import copy_image, open_destination

    image = store.hold_image(image)  # a concurrent rmi + gc cannot take its blobs mid-push
    src = StoreSource(store, image, compression=compression, on_event=on_event)
    dst = open_destination(dest_spec, **options)
    try:
        digest: Digest = copy_image(src, dst, format=format, compression=compression, on_event=on_event)
    finally:
        with contextlib.suppress(Exception):
            dst.close()
    return digest
