"""The local store as a transport endpoint: pull lands here, push starts here.

A pulled image keeps its manifest and blobs exactly as they came. A built image
has no manifest until it leaves the store: one is made on the way out, with the
layer blobs produced in the requested compression (and kept for the next push).
"""

from __future__ import annotations

import contextlib
from typing import Any, BinaryIO

from pybuild.builder.records import ImageMeta, ManifestRef
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
            raw = self.store.layout.read_blob(img.manifest.digest)
            return raw, img.manifest.media_type or spec.OCI_MANIFEST
        compression = self.compression or "gzip"
        media_type = spec.layer_media_type(compression)
        def blob(diff_id: str) -> spec.Descriptor:
            try:
                entry = self.store.layer_blob(diff_id, compression, media_type, on_event=self.on_event)
            except StoreError:
                # a pulled base layer cannot be re-made byte for byte from its unpacked tree:
                # hand out the blob it came as; copy_image recompresses it if asked to
                found = self._any_blob(diff_id)
                if found is None:
                    raise
                return found
            return spec.Descriptor(media_type, entry.digest, entry.size)

        # a built layer's blob is made on first push (tar + compress): on both cores at once
        from concurrent.futures import ThreadPoolExecutor  # (not on a local build's path)

        with ThreadPoolExecutor(max_workers=max(1, min(2, len(img.layers)))) as pool:
            layers = list(pool.map(blob, img.layers))
        config = img.config_bytes
        annotations = self.store.image_meta(img.id).annotations or None  # bud --annotation
        manifest = spec.Manifest(spec.Descriptor(spec.OCI_CONFIG, img.digest, len(config)), layers,
                                 annotations=annotations)
        return manifest.to_json(), spec.OCI_MANIFEST

    def _any_blob(self, diff_id: str) -> spec.Descriptor | None:
        for compression, entry in sorted(self.store.layer_info(diff_id).blobs.items()):
            if self.store.layout.has_blob(entry.digest):
                mt = entry.media_type or spec.layer_media_type(compression)
                return spec.Descriptor(mt, entry.digest, entry.size)
        return None

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
        self._diff_ids: dict[str, str] = {}  # layer blob digest -> the diff_id its config names
        self._sizes: dict[str, int] = {}  # diff_id -> uncompressed size measured on the way in

    def expect_manifest(self, doc: spec.Manifest) -> None:
        """Called once the config is here, before the layers: learn each layer's diff_id, so
        put_blob can check it as the layer streams in (see pybuild.oci.diffid)."""
        config = spec.ImageConfig.from_json(self.store.layout.read_blob(doc.config.digest, doc.config.size))
        diff_ids = [str(d) for d in config.rootfs_diff_ids]
        layers = [d for d in doc.layers if spec.is_layer(d.media_type)]
        if len(diff_ids) != len(layers):
            raise IntegrityError(f"image {self.reference}: {len(layers)} layers but "
                                 f"{len(diff_ids)} diff_ids in its config")
        for desc, diff_id in zip(layers, diff_ids, strict=True):
            if self._diff_ids.setdefault(str(desc.digest), diff_id) != diff_id:
                raise IntegrityError(f"image {self.reference}: layer {desc.digest} is given two diff_ids "
                                     f"({self._diff_ids[str(desc.digest)]} and {diff_id})")

    def has_blob(self, desc: spec.Descriptor) -> bool:
        return self.store.reuse_blob(desc.digest, desc.size)  # leased, and only at the right size

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        from pybuild.oci.diffid import DiffIdTee

        existed = self.store.layout.has_blob(desc.digest)
        diff_id = self._diff_ids.get(str(desc.digest))
        tee = DiffIdTee(stream, diff_id, f"image {self.reference}: layer {desc.digest}") if diff_id else None
        try:
            self.store.layout.put_blob(tee or stream, desc.digest, desc.size,
                                       check=tee.check if tee else None)
        finally:
            if tee is not None:
                tee.close()
        if tee is not None and tee.size and diff_id:
            self._sizes[diff_id] = tee.size
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
        sizes = [self._layer_size(desc, diff_id) for desc, diff_id in zip(layers, diff_ids, strict=True)]
        manifest_digest, _ = self.store.layout.put_bytes(raw)
        media = doc.media_type or media_type
        self.image = self.store.add_image(config_bytes, diff_ids, names=self.names,
                                          manifest=ManifestRef(Digest(manifest_digest), media, tuple(sizes)),
                                          created=config.created or "")
        self._added.clear()

    def _layer_size(self, desc: spec.Descriptor, diff_id: str) -> int:
        """The uncompressed size of a layer: measured on the way in, or known to the store, or
        (a blob that was already here, skipped) measured now, checking its diff_id too."""
        if diff_id in self._sizes:
            return self._sizes[diff_id]
        known = _known_layer_size(self.store, diff_id, str(desc.digest))
        if known is not None:
            return known
        from pybuild.oci.diffid import DiffIdTee
        from pybuild.oci.digest import CHUNK

        with DiffIdTee(self.store.layout.open_blob(desc.digest, desc.size), diff_id,
                       f"image {self.reference}: layer {desc.digest}") as tee:
            while tee.read(CHUNK):
                pass
            tee.check()
            return tee.size

    def close(self) -> None:
        if self.image is None:
            from pybuild.builder import garbage

            garbage.discard_blobs(self.store, self._added)


def _known_layer_size(store: Store, diff_id: str, blob: str) -> int | None:
    """The uncompressed size of layer ``diff_id`` if the store already knows ``blob`` to be
    that layer (its unpacked copy was made from it, or a pulled image pairs the two)."""
    if store.has_layer(diff_id):
        info = store.layer_info(diff_id)
        if any(b.digest == blob for b in info.blobs.values()):
            return info.size
    for img in store.images():
        manifest = img.manifest
        sizes = manifest.layer_sizes if manifest else None
        if manifest is None or not sizes or diff_id not in img.layers:
            continue
        with contextlib.suppress(Exception):
            doc = spec.parse_manifest(store.layout.read_blob(manifest.digest), manifest.media_type)
            if not isinstance(doc, spec.Manifest):
                continue
            layers = [d for d in doc.layers if spec.is_layer(d.media_type)]
            for desc, d, size in zip(layers, img.layers, sizes, strict=False):
                if d == diff_id and str(desc.digest) == blob:
                    return int(size)
    return None


def image_size(store: Store, image: Image) -> int:
    """What `images` shows: the uncompressed size of the image's layers, the same however the
    image arrived (built here, or pulled: measured on the way in) and whether or not its
    layers are unpacked yet."""
    pulled = (image.manifest.layer_sizes if image.manifest else None) or ()
    total = 0
    for i, diff_id in enumerate(image.layers):
        if store.has_layer(diff_id):
            total += store.layer_info(diff_id).size
        elif i < len(pulled):
            total += int(pulled[i])
    return total


PULL_POLICIES = ("always", "missing", "never")


def resolve_image(store: Store, ref: str, *, pull: str = "missing", on_event: Any = None,
                  **registry_options: Any) -> Image:
    """The image ``ref`` names: from the store (per the pull policy) or pulled into it. The one
    resolver of FROM, COPY --from, RUN --mount from= (the executor) and `from` (workflow);
    a transport spec (``oci:DIR``...) is always read, and the image is leased to this process.
    With ``platform=`` (in ``registry_options``) a stored image of another platform does not count."""
    from pybuild.errors import ConfigError, ImageNotFound
    from pybuild.oci.platform_host import config_platform, parse_platform
    from pybuild.oci.transport_names import is_transport_spec  # not .transport: a stored FROM copies nothing

    if pull not in PULL_POLICIES:
        raise ConfigError(f"invalid pull policy {pull!r} (always, missing or never)")
    want = parse_platform(registry_options["platform"], "--platform") if registry_options.get("platform") else None
    transport = is_transport_spec(ref)
    if not transport and pull != "always":
        found = store.find_image(ref)
        if found is not None and (want is None or want.match_rank(config_platform(found.config)) is not None):
            return store.hold_image(found)  # leased while this process uses it
        if pull == "never":
            raise ImageNotFound(f"image {ref}{f' for {want}' if want else ''} is not in the local store "
                                "(--pull=never)")
    if transport:
        return store.hold_image(pull_into_store(store, ref, names=[], on_event=on_event, **registry_options))
    from pybuild.oci.reference import Reference

    name = str(Reference.parse(ref))
    return store.hold_image(pull_into_store(store, f"docker://{name}", names=[name], on_event=on_event,
                                            **registry_options))


def pull_into_store(store: Store, source_spec: str, *, names: list[str] | None = None,
                    platform: str | None = None, on_event: Any = None, **options: Any) -> Image:
    """Copy the image at ``source_spec`` (any transport) into the store; returns it.

    ``names=None`` names it as buildah's pull does (:func:`pull_names`); ``[]`` leaves it unnamed."""
    from pybuild.oci.transport import copy_image, open_source

    src = open_source(source_spec, **options)
    if names is None:
        names = pull_names(source_spec, src)
    dst = StoreDestination(store, names)
    try:
        copy_image(src, dst, platform=platform, on_event=on_event)
    finally:
        with contextlib.suppress(Exception):
            src.close()
        dst.close()
    assert dst.image is not None
    return dst.image


def pull_spec(source: str) -> str:
    """What ``pull SOURCE`` reads: a transport spec as given, a bare reference from its registry."""
    from pybuild.oci.reference import Reference
    from pybuild.oci.transport import is_transport_spec

    return source if is_transport_spec(source) else f"docker://{Reference.parse(source)}"


def pull_names(source_spec: str, src: Any = None) -> list[str]:
    """The names buildah (containers/common's libimage) gives a pulled image.

    ``docker://REF``: REF. ``oci:DIR[:REF]``: ``localhost/DIR:latest`` -- the layout's path, not
    the REF that picked the image in it. ``oci-archive:FILE[:REF]``: the picked manifest's
    ``org.opencontainers.image.ref.name`` (short names under localhost/). ``docker-archive:``:
    the NAME:TAG asked for, else the archive's RepoTags. ``containers-storage:[STORE]NAME``:
    NAME (normalised as that store does); ``@ID``: none. ``dir:``: none (the ID names it).
    A name that is not a valid reference is dropped, as the image still lands under its ID."""
    from pybuild.builder.store import normalize_name
    from pybuild.errors import InvalidReference
    from pybuild.oci.reference import Reference
    from pybuild.oci.transport import split_spec

    transport, rest = split_spec(source_spec)
    candidates: list[tuple[str, bool]] = []  # (name, short names go under localhost/)
    if transport == "docker":
        candidates = [(rest, False)]
    elif transport == "oci":
        path = rest.split(":", 1)[0].lstrip("/")
        candidates = [("localhost/" + path, True)]
    elif transport == "oci-archive":
        desc = getattr(src, "descriptor", None)
        ref_name = (desc.annotations or {}).get(spec.ANNOTATION_REF_NAME) if desc is not None else None
        if ref_name:
            candidates = [(ref_name, True)]
    elif transport == "containers-storage":
        from pybuild.oci.containers_storage import pull_name

        found = pull_name(rest)
        candidates = [(found, False)] if found else []
    elif transport == "docker-archive":
        parts = rest.split(":", 1)
        if len(parts) > 1 and parts[1] and not parts[1].startswith("@"):
            candidates = [(parts[1], False)]
        else:
            candidates = [(t, False) for t in getattr(src, "repo_tags", None) or []]
    out: list[str] = []
    for name, local in candidates:
        try:
            out.append(normalize_name(name) if local else str(Reference.parse(name)))
        except InvalidReference:
            continue
    return out


def push_from_store(store: Store, image: Image, dest_spec: str, *, format: str | None = None,
                    compression: str | None = None, on_event: Any = None, subject: str | None = None,
                    **options: Any) -> Digest:
    """Copy ``image`` out of the store to ``dest_spec``; returns the manifest digest written.

    ``format`` and ``compression`` default to what the build asked (``bud --format docker``,
    ``--compression-format zstd``); docker-archive is always Docker format, and a Docker
    manifest never carries zstd (a default of zstd yields gzip there; asking for both is an
    error). The layers are made before the destination is opened, and a destination that
    is not committed is left as it was. ``subject``: the name the image was asked for by, which
    its attestations' statements name (default: its first name)."""
    from pybuild.errors import ConfigError
    from pybuild.oci.transport import copy_image, open_destination

    image = store.hold_image(image)  # a concurrent rmi + gc cannot take its blobs mid-push
    meta = store.image_meta(image.id) if not image.manifest else ImageMeta()
    if format is None and meta.format == "docker":
        format = "docker"
    if dest_spec.startswith("docker-archive:"):
        format = "docker"
    if compression is None and meta.compression and not (format == "docker" and meta.compression == "zstd"):
        compression = meta.compression
    if format == "docker" and compression == "zstd":
        raise ConfigError("zstd compression cannot be used with the docker format (Docker v2s2 has no zstd type)")
    src = StoreSource(store, image, compression=compression, on_event=on_event)
    src.get_manifest()  # a layer that cannot be made fails here, before the destination exists
    from pybuild.builder.attest import predicates_for_push, subject_name

    predicates = predicates_for_push(store, image)
    dst = open_destination(dest_spec, **options)
    try:
        if predicates:  # bud --attest/--sbom/--provenance: an index with the attestation manifest
            from pybuild.oci.attestation import copy_attested
            from pybuild.oci.platform_host import config_platform

            name = subject_name(image, str(config_platform(image.config)), subject)
            return copy_attested(src, dst, predicates, name, format=format,
                                 compression=compression, on_event=on_event)
        digest: Digest = copy_image(src, dst, format=format, compression=compression, on_event=on_event)
    finally:
        with contextlib.suppress(Exception):
            dst.close()
    return digest
