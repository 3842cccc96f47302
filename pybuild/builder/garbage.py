"""Garbage collection above the content store: what keeps a layer or blob (its roots), and
removing the rest.

Why not in store.py: the roots are images, working containers' state, the step cache,
leases and manifest lists — modules that stand on the store. Kept here, the store below
imports none of them (umoci's split: a small content store, gc above it in casext).
Every function takes the store lock as the store's own mutations do.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from pybuild.errors import StoreError
from pybuild.fsutil import remove_tree, tree_size
from pybuild.oci.digest import Digest

if TYPE_CHECKING:
    from pybuild.builder.store import Store

__all__ = ["referenced", "discard_blobs", "collect"]


def referenced(store: Store) -> tuple[set[str], set[str]]:
    """Layers and blobs that images, working containers and the cache use (caller holds the lock)."""
    from pybuild.builder import cache as cache_mod
    from pybuild.oci.spec import Manifest, parse_manifest

    keep_layers: set[str] = set()
    keep_blobs: set[str] = set()
    for img in store.images():
        keep_layers.update(img.layers)
        keep_blobs.add(str(img.digest))
        keep_blobs.update(str(a.digest) for a in store.image_meta(img.id).attestations)
        if img.manifest:
            keep_blobs.add(str(img.manifest.digest))
            try:
                m = parse_manifest(store.layout.read_blob(img.manifest.digest), img.manifest.media_type)
            except Exception:  # noqa: BLE001 - a broken manifest must not stop gc
                continue
            if isinstance(m, Manifest):
                keep_blobs.update(str(d.digest) for d in m.layers)
    for state in (store.root / "containers").glob("*/state.json"):
        try:
            data = json.loads(state.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        keep_layers.update(data.get("layers", []))
    ck_layers, ck_blobs = cache_mod.referenced(store)
    keep_layers |= ck_layers
    keep_blobs |= ck_blobs
    from pybuild.builder import leases

    mine = store.own_lease
    leased_layers, leased_blobs = leases.held(store, mine=mine)  # other builds and pulls in flight
    keep_layers |= leased_layers
    keep_blobs |= leased_blobs
    from pybuild.builder import manifest_records

    keep_blobs |= manifest_records.referenced(store)  # manifest lists: index, instance manifests, blobs
    for diff_id in keep_layers:
        try:
            info = store.layer_info(diff_id)
        except StoreError:
            continue
        keep_blobs.update(str(b.digest) for b in info.blobs.values())
    return keep_layers, keep_blobs


def discard_blobs(store: Store, digests: set[str]) -> None:
    """Remove blobs an aborted operation added, unless something has come to use them."""
    if not digests:
        return
    with store.lock():
        _, keep = referenced(store)
        for d in digests - keep:
            with contextlib.suppress(FileNotFoundError):
                (store.root / "blobs" / "sha256" / Digest(d).hex).unlink()


def collect(store: Store) -> dict[str, int]:
    """Remove layers and blobs that no image, container, cache entry or lease uses.

    The leases of other Store objects (other processes, as a rule) are honoured; this
    object's own is not, so a program that writes and then collects sees its garbage go."""
    freed = {"layers": 0, "blobs": 0, "bytes": 0}
    with store.lock():
        keep_layers, keep_blobs = referenced(store)
        for d in (store.root / "layers").iterdir():
            diff_id = "sha256:" + d.name
            if diff_id in keep_layers:
                continue
            freed["bytes"] += tree_size(d)
            remove_tree(d)
            freed["layers"] += 1
        blob_dir = store.root / "blobs" / "sha256"
        if blob_dir.is_dir():
            for b in blob_dir.iterdir():
                if b.name.startswith("."):
                    continue
                if "sha256:" + b.name not in keep_blobs:
                    freed["bytes"] += b.stat().st_size
                    b.unlink()
                    freed["blobs"] += 1
    return freed
