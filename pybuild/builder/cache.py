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
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybuild.builder.store import Store


def make_key(inputs: dict[str, Any]) -> str:
    """The cache key of a step: sha256 over its inputs in canonical JSON."""
    doc = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def _entry_path(store: Store, key: str) -> Path:
    return store.root / "cache" / "keys" / key[:2] / f"{key}.json"


def lookup(store: Store, key: str) -> dict[str, Any] | None:
    """The recorded result for ``key``, if its layers and config are still in the store."""
    try:
        entry: dict[str, Any] = json.loads(_entry_path(store, key).read_bytes())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not all(store.has_layer(d) for d in entry.get("layers", [])):
        return None
    if not store.layout.has_blob(entry["config"]):
        return None
    return entry


def record(store: Store, key: str, *, layers: list[str], config: str, inputs: dict[str, Any]) -> None:
    """Remember that the step with ``key`` produced ``layers`` and config blob ``config``."""
    from pybuild.builder.store import atomic_write

    path = _entry_path(store, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"layers": layers, "config": config, "inputs": inputs},
                                  sort_keys=True, default=str).encode())


def referenced(store: Store) -> tuple[set[str], set[str]]:
    """Layers and blobs the cache keeps alive (for garbage collection)."""
    layers: set[str] = set()
    blobs: set[str] = set()
    for path in (store.root / "cache" / "keys").glob("*/*.json"):
        try:
            entry = json.loads(path.read_bytes())
        except (OSError, json.JSONDecodeError):
            continue
        layers.update(entry.get("layers", []))
        blobs.add(entry.get("config", ""))
    return layers, blobs


def clear(store: Store) -> int:
    """Forget every cache entry; returns how many there were."""
    n = 0
    for path in (store.root / "cache" / "keys").glob("*/*.json"):
        path.unlink(missing_ok=True)
        n += 1
    return n
