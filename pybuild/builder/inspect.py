"""What `inspect` shows: an image's or working container's config and manifest, as buildah
lays it out (Type, FromImage, FromImageID, OCIv1, Docker, Manifest, History...), so scripts
written for ``buildah inspect --format`` keep working (:func:`format_info` runs their Go
templates over it, typed as buildah's structs)."""

from __future__ import annotations

import json
from typing import Any

from pybuild import __version__
from pybuild.builder.store import Image, Store
from pybuild.errors import PybuildError


def inspect_image(store: Store, ref: str) -> dict[str, Any]:
    img = store.image(ref)
    config = img.config
    manifest_raw, manifest_type = _manifest(store, img)
    oci = json.loads(config.to_json(docker=False))
    docker = json.loads(config.to_json(docker=True))
    return {
        "Type": f"pybuild {__version__}",
        "FromImage": img.names[0] if img.names else "",
        "FromImageID": img.id,
        "FromImageDigest": str(img.manifest.digest) if img.manifest else
        ("sha256:" + _sha256(manifest_raw) if manifest_raw else ""),
        "Names": img.names,
        "Config": config.to_json(docker=True).decode(),
        "Manifest": manifest_raw.decode() if manifest_raw else "",
        "ManifestType": manifest_type,
        "Container": "",
        "ContainerID": "",
        "MountPoint": "",
        "OCIv1": oci,
        "Docker": docker,
        "Layers": img.layers,
        "History": docker.get("history", []),
        "ImageCreatedBy": (docker.get("history") or [{}])[-1].get("created_by", ""),
        "ImageAnnotations": store.image_meta(img.id).annotations,
    }


def _manifest(store: Store, img: Image) -> tuple[bytes, str]:
    """The manifest as stored: a pulled image's own; for a built one, the manifest of its
    uncompressed layers as kept in the store (what buildah shows for a built image; a push
    makes compressed blobs and a manifest of its own)."""
    from pybuild.oci import spec
    from pybuild.oci.digest import Digest

    if img.manifest:
        try:
            raw = store.layout.read_blob(img.manifest.digest)
        except (PybuildError, OSError):
            return b"", ""
        return raw, img.manifest.media_type or spec.OCI_MANIFEST
    meta = store.image_meta(img.id)
    docker = meta.format == "docker"
    try:
        layers = [spec.Descriptor(spec.DOCKER_LAYER if docker else spec.OCI_LAYER, Digest(diff_id),
                                  store.layer_info(diff_id).size) for diff_id in img.layers]
    except PybuildError:  # a layer gone from the store: the rest of inspect still answers
        return b"", ""
    config = spec.Descriptor(spec.DOCKER_CONFIG if docker else spec.OCI_CONFIG, img.digest, len(img.config_bytes))
    manifest = spec.Manifest(config, layers, media_type=spec.DOCKER_MANIFEST if docker else spec.OCI_MANIFEST,
                             annotations=meta.annotations or None)
    return manifest.to_json(), manifest.media_type


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def inspect_container(store: Store, ref: str) -> dict[str, Any]:
    from pybuild.builder.container import WorkingContainer

    wc = WorkingContainer.load(store, ref)
    config = wc.config
    return {
        "Type": f"pybuild {__version__}",
        "FromImage": wc.state.image_name,
        "FromImageID": wc.state.image_id,
        "Container": wc.name,
        "ContainerID": wc.id,
        "MountPoint": str(wc.mountpoint) if wc.state.mounted else "",
        "OCIv1": json.loads(config.to_json(docker=False)),
        "Docker": json.loads(config.to_json(docker=True)),
        "Layers": wc.layers,
    }


def format_info(info: dict[str, Any], template: str) -> str:
    """``inspect --format TEMPLATE``: Go's text/template over ``info`` as buildah's BuilderInfo."""
    from pybuild.builder.inspect_types import BUILDER_INFO
    from pybuild.gotemplate import render

    return render(template, info, BUILDER_INFO)
