"""The manifest lists' records in ``ROOT/manifest-lists.json``: read, find, save, delete, and
:func:`referenced` (what the store's gc keeps for them).

Apart from manifest_list.py (adding, annotating, pushing instances) because gc needs the
records and nothing of the transports those operations stand on.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from pybuild.builder.store import Store, atomic_write, normalize_name
from pybuild.errors import ImageNotFound, StoreError, UserError
from pybuild.oci import spec
from pybuild.oci.digest import Digest

__all__ = ["RECORDS", "ManifestList", "find", "get", "lists", "save", "create", "delete", "referenced"]

RECORDS = "manifest-lists.json"


@dataclass
class ManifestList:
    """One list: its name, the digest of its index blob, and where each instance lives."""

    name: str
    digest: Digest
    instances: dict[str, dict[str, str]] = field(default_factory=dict)
    store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def raw(self) -> bytes:
        """The index JSON, exact bytes."""
        assert self.store is not None
        return bytes(self.store.layout.read_blob(self.digest))

    @property
    def index(self) -> spec.Index:
        doc = spec.parse_manifest(self.raw, spec.OCI_INDEX)
        assert isinstance(doc, spec.Index)
        return doc

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "digest": str(self.digest), "instances": self.instances}


# --- records -----------------------------------------------------------------------------------


def _read(store: Store) -> list[dict[str, Any]]:
    try:
        data = json.loads((store.root / RECORDS).read_bytes())
    except FileNotFoundError:
        return []
    except json.JSONDecodeError as e:
        raise StoreError(f"{store.root / RECORDS} is corrupt: {e}") from e
    if not isinstance(data, list):
        raise StoreError(f"{store.root / RECORDS} is corrupt: not a list")
    return data


def _write(store: Store, records: list[dict[str, Any]]) -> None:
    atomic_write(store.root / RECORDS, json.dumps(records, indent=1).encode() + b"\n")


def _candidates(name: str) -> list[str]:
    out = [name]
    with contextlib.suppress(UserError):
        out.insert(0, normalize_name(name))
    return out


def find(store: Store, name: str) -> ManifestList | None:
    """The list called ``name`` (short names as for images: ``localhost/NAME:latest``)."""
    records = _read(store)
    for candidate in _candidates(name):
        for rec in records:
            if rec.get("name") == candidate:
                return ManifestList(rec["name"], Digest(rec["digest"]), dict(rec.get("instances") or {}), store)
    return None


def get(store: Store, name: str) -> ManifestList:
    found = find(store, name)
    if found is None:
        raise ImageNotFound(f"no manifest list named {name} in the local store")
    return found


def lists(store: Store) -> list[ManifestList]:
    return [ManifestList(r["name"], Digest(r["digest"]), dict(r.get("instances") or {}), store)
            for r in _read(store)]


def save(store: Store, index: spec.Index, name: str, instances: dict[str, dict[str, str]],
          *, create: bool = False) -> ManifestList:
    """Store the index blob, then (under the store lock) point the record at it."""
    digest, _ = store.layout.put_bytes(index.to_json())
    with store.lock():
        records = _read(store)
        rec = next((r for r in records if r.get("name") == name), None)
        if rec is None:
            rec = {"name": name}
            records.append(rec)
        elif create:
            raise UserError(f"a manifest list named {name} already exists (use --amend to reuse it)")
        rec["digest"] = str(digest)
        rec["instances"] = instances
        _write(store, records)
    return ManifestList(name, Digest(digest), instances, store)


def create(store: Store, name: str, *, amend: bool = False) -> ManifestList:
    """An empty OCI index under ``name``; with ``amend`` an existing list is returned as is."""
    full = normalize_name(name)
    existing = find(store, full)
    if existing is not None:
        if amend:
            return existing
        raise UserError(f"a manifest list named {full} already exists (use --amend to reuse it)")
    return save(store, spec.Index([]), full, {}, create=True)


def delete(store: Store, name: str) -> str:
    """Forget a list (its blobs go at the next gc); returns its full name."""
    lst = get(store, name)
    with store.lock():
        _write(store, [r for r in _read(store) if r.get("name") != lst.name])
    return lst.name


def referenced(store: Store) -> set[str]:
    """Blobs the lists need: index, instance manifests, and what those manifests name."""
    keep: set[str] = set()
    for lst in lists(store):
        keep.add(str(lst.digest))
        try:
            index = lst.index
        except Exception:  # noqa: BLE001 - a broken list must not stop gc
            continue
        for desc in index.manifests:
            keep.add(str(desc.digest))
            with contextlib.suppress(Exception):
                doc = spec.parse_manifest(store.layout.read_blob(desc.digest), desc.media_type)
                if isinstance(doc, spec.Manifest):
                    keep.update(str(d.digest) for d in doc.descriptors())
    return keep
