"""What `inspect` shows: an image's or working container's config and manifest, as buildah
lays it out (Type, FromImage, FromImageID, OCIv1, Docker, Manifest, History...), so scripts
written for ``buildah inspect --format`` keep working."""

from __future__ import annotations

import json
from typing import Any

from pybuild import __version__
from pybuild.builder.store import Store


def inspect_image(store: Store, ref: str) -> dict[str, Any]:
    from pybuild.builder.store_transport import StoreSource

    img = store.image(ref)
    config = img.config
    manifest_raw, manifest_type = (b"", "")
    try:
        manifest_raw, manifest_type = StoreSource(store, img).get_manifest() if img.manifest else (b"", "")
    except Exception:  # noqa: BLE001 - a manifest is informative only
        pass
    oci = json.loads(config.to_json(docker=False))
    docker = json.loads(config.to_json(docker=True))
    return {
        "Type": f"pybuild {__version__}",
        "FromImage": img.names[0] if img.names else "",
        "FromImageID": img.id,
        "FromImageDigest": img.manifest["digest"] if img.manifest else "",
        "Names": img.names,
        "Config": config.to_json(docker=True).decode(),
        "Manifest": manifest_raw.decode() if manifest_raw else "",
        "ManifestType": manifest_type,
        "OCIv1": oci,
        "Docker": docker,
        "Layers": img.layers,
        "History": docker.get("history", []),
        "ImageCreatedBy": (docker.get("history") or [{}])[-1].get("created_by", ""),
        "ImageAnnotations": store.image_meta(img.id).get("annotations") or {},
    }


def inspect_container(store: Store, ref: str) -> dict[str, Any]:
    from pybuild.builder.container import WorkingContainer

    wc = WorkingContainer.load(store, ref)
    config = wc.config
    return {
        "Type": f"pybuild {__version__}",
        "FromImage": wc.state.get("image_name", ""),
        "FromImageID": wc.state.get("image_id", ""),
        "Container": wc.name,
        "ContainerID": wc.id,
        "MountPoint": str(wc.mountpoint) if wc.state.get("mounted") else "",
        "OCIv1": json.loads(config.to_json(docker=False)),
        "Docker": json.loads(config.to_json(docker=True)),
        "Layers": wc.layers,
    }
