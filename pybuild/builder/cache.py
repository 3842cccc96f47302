"""The step cache: explicit content-addressed keys mapped to step results.

A key is the sha256 of a canonical JSON document listing every input of a step
(the parent key, the instruction after expansion, the environment, the content
hash of copied files...; see ../shared/ARCHITECTURE.md). A result is the state
after the step: its layers (diff_ids) and the digest of its config blob. Keys are
looked up in an index of small files (ROOT/cache/keys/XX/KEY.json) — never by
scanning images — and written atomically, so concurrent builds share it safely.
Each entry keeps the inputs it was made from, so a miss can be explained.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder.records import CacheEntry
from pybuild.errors import PybuildError

if TYPE_CHECKING:
    from pybuild.builder.store import Store


def make_key(inputs: dict[str, Any]) -> str:
    """The cache key of a step: sha256 over its inputs in canonical JSON."""
    doc = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def entry_file(root: str | os.PathLike[str], key: str) -> Path:
    """Where the entry for ``key`` lives under store root ``root`` (the build memo stats it)."""
    return Path(root) / "cache" / "keys" / key[:2] / f"{key}.json"


def _entry_path(store: Store, key: str) -> Path:
    return entry_file(store.root, key)


def _read(path: Path) -> CacheEntry | None:
    """The entry at ``path``; None when absent, emptied by a crash, or not an entry (a miss)."""
    try:
        return CacheEntry.from_json(json.loads(path.read_bytes()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, PybuildError):
        return None


def lookup(store: Store, key: str) -> CacheEntry | None:
    """The recorded result for ``key``, if its layers and config are still in the store."""
    entry = _read(_entry_path(store, key))
    if entry is None:
        return None
    # leased before the check, so a prune cannot take them between the check and their use
    store.hold(blobs=[entry.config], layers=entry.layers)
    if not all(store.has_layer(d) for d in entry.layers):
        return None
    if not store.layout.has_blob(entry.config):
        return None
    return entry


def record(store: Store, key: str, *, layers: Sequence[str], config: str, inputs: dict[str, Any],
           parent: str | None = None) -> None:
    """Remember that the step with ``key`` produced ``layers`` and config blob ``config``.

    With ``parent``, the key is also listed under its parent, so a later miss after the
    same parent can be explained by comparing inputs (:func:`explain_miss`)."""
    from pybuild.builder.records import digests
    from pybuild.fsutil import atomic_write, make_dirs
    from pybuild.oci.digest import Digest

    path = _entry_path(store, key)
    make_dirs(path.parent)
    # no fsync (issue 19: two per step): an entry a machine crash empties reads as a miss, and
    # so does one whose layers or config blob a crash lost (their bytes are durable before
    # their rename; the directories holding the names sync when an image record names them)
    entry = CacheEntry(digests(layers), Digest(config), inputs)
    atomic_write(path, json.dumps(entry.to_json(), sort_keys=True, default=str).encode(), durable=False)
    if parent:
        children = store.root / "cache" / "children" / parent[:2] / parent
        make_dirs(children)
        os.close(os.open(children / key, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


def explain_miss(store: Store, parent: str, inputs: dict[str, Any]) -> str:
    """Why a step missed: which inputs differ from the closest step recorded after the same
    parent (or that no step was ever recorded after it)."""
    children = store.root / "cache" / "children" / parent[:2] / parent
    try:
        keys = [p.name for p in children.iterdir()]
    except FileNotFoundError:
        return "no step was cached after the previous one (the previous step changed, or this is new)"
    mine = json.loads(json.dumps(inputs, sort_keys=True, default=str))
    theirs_all = []
    for key in keys:
        entry = _read(_entry_path(store, key))
        if entry is not None:
            theirs_all.append(entry.inputs)
    return closest_change(mine, theirs_all)


def closest_change(mine: dict[str, Any], candidates: list[dict[str, Any]]) -> str:
    """Which inputs differ between ``mine`` and the closest of ``candidates`` (the inputs of
    steps cached after the same parent): shared by the local and the remote cache."""
    best: list[str] | None = None
    for theirs in candidates:
        if theirs.get("instruction", {}).get("kind") != mine.get("instruction", {}).get("kind"):
            continue
        changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if "instruction" in changed:
            sub = sorted(k for k in set(mine["instruction"]) | set(theirs.get("instruction", {}))
                         if mine["instruction"].get(k) != theirs["instruction"].get(k))
            changed = [c for c in changed if c != "instruction"] + [f"instruction.{k}" for k in sub]
        if best is None or len(changed) < len(best):
            best = changed
    if best is None:
        return "a different instruction was cached after the previous step"
    if not best:
        return "the cached result's layers are no longer in the store"
    return "changed since the cached build: " + ", ".join(best)


def referenced(store: Store) -> tuple[set[str], set[str]]:
    """Layers and blobs the cache keeps alive (for garbage collection)."""
    layers: set[str] = set()
    blobs: set[str] = set()
    for path in (store.root / "cache" / "keys").glob("*/*.json"):
        entry = _read(path)
        if entry is not None:
            layers.update(entry.layers)
            blobs.add(entry.config)
    return layers, blobs


def clear(store: Store) -> int:
    """Forget every cache entry; returns how many there were."""
    n = 0
    for path in (store.root / "cache" / "keys").glob("*/*.json"):
        path.unlink(missing_ok=True)
        n += 1
    return n
