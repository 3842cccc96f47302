"""``--cache-to``: the steps of this build, sent where other runners can find them.

Exported are the steps this build went through (run, or answered by a cache) — the final
stage's with ``mode=min``, every stage's with ``mode=max`` — and only the layers the build
produced: the base images' layers stay where they came from (an importer pulls its FROM
itself). A blob the destination already has is not sent again (HEAD first; a registry may
also mount it from another repository). BUNDLE and LOCAL write one manifest under one tag,
replaced whole by its last writer; PER_KEY (buildah's spelling) one small manifest per key.
A failure is one warning: the image is built, the cache is only a cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybuild.builder import cache_format as fmt
from pybuild.builder.cache_remote import Backend, open_backend, tag_of
from pybuild.builder.cache_spec import PER_KEY, CacheLocation
from pybuild.errors import PybuildError, StoreError
from pybuild.events import INFO, WARNING, emit
from pybuild.oci import spec
from pybuild.oci.digest import Digest

if TYPE_CHECKING:
    from pybuild.builder.executor import Build


@dataclass
class Step:
    """A step the build went through, as the export needs it."""

    stage: int
    key: str
    parent: str
    layers: list[str]
    config: str
    inputs: dict[str, Any]


def _layer_descriptor(b: Build, diff_id: str, compression: str, backend: Backend) -> spec.Descriptor:
    """The blob of a produced layer in ``compression`` (or the one it came as: a layer fetched
    from a cache cannot be re-made bit for bit), made locally when needed."""
    store = b.store
    if not store.has_layer(diff_id):
        remote = store.layer_sources.get(diff_id)
        known = getattr(remote, "descriptor", None)
        if known is not None and backend.has_blob(known):
            return _annotated(known, diff_id)  # never fetched here, and already there
        from pybuild.builder.container import ensure_layer_any

        ensure_layer_any(store, diff_id, "the cache export")
    try:
        blob = store.layer_blob(diff_id, compression, spec.layer_media_type(compression))
    except StoreError:
        blobs = store.layer_info(diff_id).blobs
        if not blobs:
            raise
        blob = next(iter(blobs.values()))
    media_type = blob.media_type or spec.layer_media_type(next(iter(blobs)))
    return _annotated(spec.Descriptor(media_type, blob.digest, blob.size), diff_id)


def _annotated(desc: spec.Descriptor, diff_id: str) -> spec.Descriptor:
    return spec.Descriptor(desc.media_type, desc.digest, desc.size, annotations={fmt.DIFF_ID: diff_id})


def _send(b: Build, backend: Backend, descs: list[spec.Descriptor]) -> int:
    """Upload what the destination lacks; returns how many were skipped."""
    skipped = 0
    for d in descs:
        if backend.has_blob(d):
            skipped += 1
            continue
        with b.store.layout.open_blob(d.digest, d.size) as stream:
            backend.put_blob(d, stream)
    return skipped


def export(b: Build, loc: CacheLocation, steps: list[Step], base_layers: set[str], final_stage: int) -> None:
    """Export ``steps`` to ``loc``; warns (never raises) when the destination fails."""
    chosen = [s for s in steps if loc.mode == "max" or s.stage == final_stage]
    backend: Backend | None = None
    try:
        backend = open_backend(loc, b.opts.registry, write=True)
        layer_descs: dict[str, spec.Descriptor] = {}
        for s in chosen:
            for d in s.layers:
                if d not in base_layers and d not in layer_descs:
                    layer_descs[d] = _layer_descriptor(b, d, loc.compression, backend)
        configs = {s.config: spec.Descriptor(fmt.STEP_CONFIG_MEDIA_TYPE, Digest(s.config),
                                             b.store.layout.blob_size(s.config) or 0) for s in chosen}
        now = time.time()
        entries = {s.key: fmt.Entry(s.parent, s.layers, s.config, fmt.hash_inputs(s.inputs), now, s.stage)
                   for s in chosen}
        cfg_blob = spec.Descriptor(fmt.CONFIG_MEDIA_TYPE, Digest.of_bytes(fmt.CONFIG_BLOB), len(fmt.CONFIG_BLOB))
        b.store.layout.put_bytes(fmt.CONFIG_BLOB)
        skipped = _send(b, backend, [cfg_blob, *configs.values()])
        skipped += _send(b, backend, [d for d in layer_descs.values() if d.digest is not None
                                      and b.store.layout.has_blob(d.digest)])
        if loc.kind == PER_KEY:
            for s in chosen:
                own = [layer_descs[d] for d in s.layers if d in layer_descs]
                backend.put_manifest(fmt.build_manifest({s.key: entries[s.key]}, [*own, configs[s.config]]),
                                     s.key)
        else:
            raw = fmt.build_manifest(entries, [*layer_descs.values(), *configs.values()])
            backend.put_manifest(raw, tag_of(loc))
        emit(b.on_event, INFO, f"--> cache to {loc.display}: {len(entries)} steps, {len(layer_descs)} layers, "
             f"{backend.pushed} bytes pushed, {skipped} blobs already there")
    except (PybuildError, OSError) as e:
        emit(b.on_event, WARNING, f"cache export to {loc.display} failed: "
             f"{e.message if isinstance(e, PybuildError) else e}")
    finally:
        if backend is not None:
            backend.close()
