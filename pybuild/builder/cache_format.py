"""The remote cache's one document: an OCI image manifest that lists cached steps.

``layers`` holds every blob the entries need — the layers the build produced (each annotated
with its diff_id) and each step's image config — so a registry keeps them and skopeo can
read it; the manifest's annotation ``dev.pybuild.cache.entries.v1`` maps each step key to its
parent key, its layers (diff_ids, the base image's included: the importer has those from its
own FROM), its config blob, when it was made, and its inputs as hashes. Reading the table is
one request; blobs are fetched only when needed.

The inputs are hashed field by field: a miss can still say which input changed, and no value
(a host path of ``-v``, a build arg) leaves the machine. The base image's layers are never
listed as blobs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pybuild.errors import IntegrityError
from pybuild.oci import spec
from pybuild.oci.digest import Digest

ENTRIES = "dev.pybuild.cache.entries.v1"
DIFF_ID = "dev.pybuild.cache.diff-id"
CONFIG_MEDIA_TYPE = "application/vnd.pybuild.cache.config.v1+json"
STEP_CONFIG_MEDIA_TYPE = "application/vnd.pybuild.cache.step-config.v1+json"
CONFIG_BLOB = b'{"pybuild.cache":1}'
MAX_ENTRIES = 10000

_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass
class Entry:
    """One cached step as the table records it."""

    parent: str
    layers: list[str]
    config: str
    inputs: dict[str, Any]
    created: float
    stage: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "layers": self.layers, "config": self.config, "inputs": self.inputs,
                "created": self.created}


@dataclass
class Table:
    """The entries of one cache manifest and the descriptors of the blobs they name."""

    entries: dict[str, Entry] = field(default_factory=dict)
    blobs: dict[str, spec.Descriptor] = field(default_factory=dict)  # by digest
    layers: dict[str, spec.Descriptor] = field(default_factory=dict)  # by diff_id

    def children(self, parent: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.parent == parent]


def _h(value: Any) -> str:
    doc = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def hash_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs with each value replaced by a short hash (the instruction kind stays plain:
    a miss compares only steps of the same kind)."""
    out: dict[str, Any] = {}
    for k, v in inputs.items():
        if k == "instruction" and isinstance(v, dict):
            out[k] = {sk: (sv if sk == "kind" else _h(sv)) for sk, sv in v.items()}
        else:
            out[k] = _h(v)
    return out


def build_manifest(entries: dict[str, Entry], blobs: list[spec.Descriptor]) -> bytes:
    """The cache manifest over ``entries``; ``blobs`` are the layer and config descriptors."""
    config = spec.Descriptor(CONFIG_MEDIA_TYPE, Digest.of_bytes(CONFIG_BLOB), len(CONFIG_BLOB))
    table = {k: e.to_dict() for k, e in sorted(entries.items())}
    doc = spec.Manifest(config=config, layers=blobs, annotations={
        ENTRIES: json.dumps(table, sort_keys=True, separators=(",", ":"))})
    return doc.to_json()


def parse_table(raw: bytes, where: str) -> Table:
    """The table of a cache manifest; anything malformed is an IntegrityError (the source is
    then not used)."""
    try:
        doc = spec.parse_manifest(raw, spec.OCI_MANIFEST)
    except IntegrityError as e:
        raise IntegrityError(f"not a cache manifest: {e.message}", where=where) from None
    if not isinstance(doc, spec.Manifest) or doc.config.media_type != CONFIG_MEDIA_TYPE:
        raise IntegrityError("not a pybuild cache manifest", where=where)
    table = Table()
    for d in doc.layers:
        table.blobs[str(d.digest)] = d
        diff_id = (d.annotations or {}).get(DIFF_ID)
        if diff_id:
            table.layers[str(Digest(diff_id))] = d
    try:
        listed = json.loads((doc.annotations or {}).get(ENTRIES, "{}"))
    except json.JSONDecodeError:
        raise IntegrityError("cache manifest entries are not JSON", where=where) from None
    if not isinstance(listed, dict) or len(listed) > MAX_ENTRIES:
        raise IntegrityError("cache manifest entries are not a table", where=where)
    for key, item in listed.items():
        try:
            entry = Entry(parent=str(item["parent"]), layers=[str(Digest(x)) for x in item["layers"]],
                          config=str(Digest(item["config"])), inputs=dict(item.get("inputs") or {}),
                          created=float(item.get("created") or 0))
        except (KeyError, TypeError, ValueError, IntegrityError):
            raise IntegrityError(f"cache entry {key[:12]} is malformed", where=where) from None
        if not _KEY.fullmatch(key) or not _KEY.fullmatch(entry.parent) or entry.config not in table.blobs:
            raise IntegrityError(f"cache entry {key[:12]} is malformed", where=where)
        table.entries[key] = entry
    return table
