"""Checking a store as its users rely on it: every record whole, every name an image.

:func:`check` reads every image record and verifies what ``inspect``, ``from`` and
``push`` will need: the config blob, the manifest and each layer blob present and hashing
to the digest and size their descriptors give, each layer of a built image unpacked, each
name on one image only, each working container's layers there. With ``quiescent=True``
(nothing else runs on the store) it also reports what only a dead process leaves: scratch
dirs, temp files, leases, build containers, mounts below the store. It changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from pybuild.builder.store import Image, Store
from pybuild.errors import PybuildError
from pybuild.fsutil import TMP_PREFIX
from pybuild.oci.digest import Digest


def check(store: Store, *, quiescent: bool = False) -> list[str]:
    """Problems found in ``store``, one line each (empty: the store is consistent)."""
    problems: list[str] = []
    verified: dict[str, str | None] = {}
    try:
        images = store.images()
    except PybuildError as e:
        return [str(e)]
    owners: dict[str, str] = {}
    for img in images:
        problems += [f"image {img.id[:12]}: {p}" for p in _image_problems(store, img, verified)]
        for name in img.names:
            if name in owners:
                problems.append(f"name {name} is on images {owners[name][:12]} and {img.id[:12]}")
            owners[name] = img.id
    for state_file in sorted((store.root / "containers").glob("*/state.json")):
        try:
            state = json.loads(state_file.read_bytes())
        except (OSError, ValueError) as e:
            problems.append(f"container {state_file.parent.name[:12]}: unreadable state.json ({e})")
            continue
        for diff_id in state.get("layers", []):
            if not store.has_layer(diff_id) and not any(diff_id in i.layers and i.manifest for i in images):
                problems.append(f"container {state_file.parent.name[:12]}: layer {diff_id} is missing")
    if quiescent:
        problems += leftovers(store)
    return problems


def _image_problems(store: Store, img: Image, verified: dict[str, str | None]) -> list[str]:
    from pybuild.oci.spec import Manifest, is_layer, parse_manifest

    out: list[str] = []
    config_problem = _blob_problem(store, str(img.digest), None, verified)
    if config_problem:
        out.append(f"config {config_problem}")
    descs: list[Any] = []
    if img.manifest:
        digest = str(img.manifest.digest)
        problem = _blob_problem(store, digest, None, verified)
        if problem:
            return [*out, f"manifest {problem}"]
        try:
            m = parse_manifest(store.layout.read_blob(Digest(digest)), img.manifest.media_type)
        except PybuildError as e:
            return [*out, f"manifest {digest}: {e}"]
        if not isinstance(m, Manifest):
            return [*out, f"manifest {digest} is an index"]
        if m.config.digest != img.digest:
            out.append(f"manifest {digest} names config {m.config.digest}")
        elif (size := store.layout.blob_size(img.digest)) is not None and size != m.config.size:
            out.append(f"config is {size} bytes, its manifest says {m.config.size}")
        descs = [d for d in m.layers if is_layer(d.media_type)]
        if len(descs) != len(img.layers):
            out.append(f"manifest has {len(descs)} layers, the record {len(img.layers)}")
        for d in descs:
            problem = _blob_problem(store, str(d.digest), d.size, verified)
            if problem:
                out.append(f"layer {problem}")
    for i, diff_id in enumerate(img.layers):
        if not store.has_layer(diff_id) and i >= len(descs):
            out.append(f"layer {diff_id} is neither unpacked nor a blob")
    return out


def _blob_problem(store: Store, digest: str, size: int | None, verified: dict[str, str | None]) -> str | None:
    """Why blob ``digest`` is not usable (absent, wrong size, wrong content), or None."""
    if digest not in verified:
        try:
            with store.layout.open_blob(Digest(digest)) as r:
                while r.read(1 << 20):
                    pass
            verified[digest] = None
        except PybuildError as e:
            verified[digest] = f"blob {digest}: {e}"
        except OSError as e:
            verified[digest] = f"blob {digest}: {e.strerror}"
    if verified[digest] is None and size is not None:
        have = store.layout.blob_size(Digest(digest))
        if have != size:
            return f"blob {digest} is {have} bytes, its descriptor says {size}"
    return verified[digest]


def leftovers(store: Store) -> list[str]:
    """What a dead or finished process should not have left behind."""
    out: list[str] = []
    root = store.root
    for entry in _list(root / "tmp"):
        out.append(f"scratch tmp/{entry} is left over")
    for sub in ("", "blobs", "blobs/sha256", "leases", "image-meta"):
        for entry in _list(root / sub):
            if entry.startswith(TMP_PREFIX):
                out.append(f"temp file {os.path.join(sub, entry)} is left over")
    for entry in _list(root / "leases"):
        if not entry.startswith("."):
            out.append(f"lease leases/{entry} is left over")
    for d in _list(root / "containers"):
        state = root / "containers" / d / "state.json"
        if not state.exists():
            out.append(f"container dir containers/{d} has no state.json")
            continue
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_bytes()).get("internal"):
                out.append(f"build container containers/{d[:12]} is left over")
    from pybuild.builder.recovery import mounts_under

    out += [f"{mp} is still mounted" for mp in mounts_under(str(root))]
    return out


def _list(directory: Any) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


__all__ = ["check", "leftovers"]
