"""Typed store records: what ``images.json``, ``layers/HEX/info.json`` and a working
container's ``state.json`` hold.

The records were dicts read and written in many modules, so a misspelt key or a diff_id
that is not a digest went unnoticed until something read it. Each record here is a
dataclass whose ``from_json`` reads the JSON stores already have on disk (keys and
spellings unchanged: a store written before these types opens as it did) and whose
``to_json`` writes the same form back; diff_ids and digests are :class:`Digest`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pybuild.oci.digest import Digest


def digests(values: Iterable[str]) -> list[Digest]:
    """diff_ids (or any digests) as :class:`Digest`, each checked."""
    return [Digest(v) for v in values]


@dataclass(frozen=True)
class ManifestRef:
    """The stored manifest of an image (pulled, or written by a push): its blob's digest,
    its media type, and (pulled) each layer's uncompressed size, measured on the way in."""

    digest: Digest
    media_type: str | None = None
    layer_sizes: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": str(self.digest), "mediaType": self.media_type}
        if self.layer_sizes is not None:
            out["layer_sizes"] = list(self.layer_sizes)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestRef:
        sizes = data.get("layer_sizes")
        return cls(Digest(data["digest"]), data.get("mediaType"),
                   tuple(int(s) for s in sizes) if sizes is not None else None)


@dataclass
class ImageRecord:
    """One entry of ``images.json``: ``id`` is the config digest's hex."""

    id: str
    names: list[str] = field(default_factory=list)
    layers: list[Digest] = field(default_factory=list)  # diff_ids, bottom first
    created: str = ""
    manifest: ManifestRef | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "names": list(self.names), "layers": [str(d) for d in self.layers],
                               "created": self.created}
        if self.manifest is not None:
            out["manifest"] = self.manifest.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageRecord:
        manifest = data.get("manifest")
        return cls(str(data["id"]), [str(n) for n in data.get("names", [])],
                   digests(data.get("layers", [])), str(data.get("created") or ""),
                   ManifestRef.from_json(manifest) if manifest else None)


@dataclass(frozen=True)
class BlobRef:
    """A blob a layer is stored as (per compression), as a descriptor names it."""

    digest: Digest
    size: int
    media_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": str(self.digest), "size": self.size}
        if self.media_type is not None:
            out["mediaType"] = self.media_type
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlobRef:
        return cls(Digest(data["digest"]), int(data["size"]), data.get("mediaType"))


@dataclass(frozen=True)
class TarOptions:
    """How a layer's tar is (re)made: ``exact=False`` for a layer unpacked from a blob that
    the deterministic writer cannot reproduce byte for byte (pulled, or from a remote cache)."""

    timestamp: int | None = None
    clamp_mtime: int | None = None
    exact: bool = True

    def writer_options(self) -> dict[str, int]:
        """The keyword arguments of ``oci.layer.write_layer`` (and ``commit_layer``)."""
        out: dict[str, int] = {}
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        if self.clamp_mtime is not None:
            out["clamp_mtime"] = self.clamp_mtime
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.writer_options())
        if not self.exact:
            out["exact"] = False
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TarOptions:
        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if value is not None else None

        return cls(number("timestamp"), number("clamp_mtime"), data.get("exact") is not False)


@dataclass
class LayerInfo:
    """``layers/HEX/info.json``: an unpacked layer's size, tar options, and the blobs made of it."""

    diff_id: Digest
    size: int
    tar_options: TarOptions = TarOptions()
    blobs: dict[str, BlobRef] = field(default_factory=dict)  # by compression

    def to_json(self) -> dict[str, Any]:
        return {"diff_id": str(self.diff_id), "size": self.size, "tar_options": self.tar_options.to_json(),
                "blobs": {c: b.to_json() for c, b in self.blobs.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LayerInfo:
        return cls(Digest(data["diff_id"]), int(data.get("size", 0)),
                   TarOptions.from_json(data.get("tar_options") or {}),
                   {str(c): BlobRef.from_json(b) for c, b in (data.get("blobs") or {}).items()})


@dataclass
class CacheEntry:
    """``cache/keys/XX/KEY.json``: a step's result (its layers, its config blob) and the
    inputs it was keyed by (to explain a later miss). ``source``: where a remote hit came
    from (never written: a local entry is the local cache's own)."""

    layers: list[Digest]
    config: Digest
    inputs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"layers": [str(d) for d in self.layers], "config": str(self.config), "inputs": self.inputs}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CacheEntry:
        return cls(digests(data.get("layers") or []), Digest(data["config"]), dict(data.get("inputs") or {}))


@dataclass(frozen=True)
class AttestationRef:
    """An attestation blob recorded with an image (an SBOM, provenance) for push to attach."""

    predicate_type: str
    digest: Digest
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"predicateType": self.predicate_type, "digest": str(self.digest), "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttestationRef:
        return cls(str(data["predicateType"]), Digest(data["digest"]), int(data["size"]))


@dataclass
class ImageMeta:
    """``image-meta/ID.json``: what a build asked beyond the config (push's defaults: the
    manifest format, annotations, layer compression) and the attestations made with it."""

    format: str = "oci"
    annotations: dict[str, str] = field(default_factory=dict)
    compression: str | None = None
    attestations: list[AttestationRef] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "annotations": dict(self.annotations),
                               "compression": self.compression}
        if self.attestations:
            out["attestations"] = [a.to_json() for a in self.attestations]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageMeta:
        return cls(str(data.get("format") or "oci"), {str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
                   data.get("compression") or None,
                   [AttestationRef.from_json(a) for a in data.get("attestations") or []])


# state.json keys written only when set, with their unset values
_OPTIONAL: dict[str, Any] = {"config": None, "mounted": False, "user_mounted": False, "vfs_ready": False,
                             "vfs_stubs": [], "link_groups": [], "security_opts": [], "run_defaults": {},
                             "annotations": {}, "created_by": "", "comment": ""}


@dataclass
class ContainerState:
    """``containers/ID/state.json``: a working container's image, layers and what it was told.

    ``internal``: a build's own container (``pid`` is the build's process: recovery removes
    it once that dies). ``config`` is the image config as docker JSON (the container keeps
    the parsed one). Keys this version does not know are kept in ``extra`` and written back."""

    id: str
    name: str = ""
    image_id: str = ""
    image_name: str = ""
    base_layers: list[Digest] = field(default_factory=list)
    layers: list[Digest] = field(default_factory=list)
    created: float = 0.0
    internal: bool = False
    pid: int = 0
    driver: str = ""
    config: dict[str, Any] | None = None
    mounted: bool = False
    user_mounted: bool = False  # `pybuild mount`: stays mounted after runs and commits
    vfs_ready: bool = False
    vfs_stubs: list[list[Any]] = field(default_factory=list)  # [host, parent, atime, mtime]
    link_groups: list[dict[str, Any]] = field(default_factory=list)  # placed by link_groups.prepare
    security_opts: list[str] = field(default_factory=list)
    run_defaults: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created_by: str = ""
    comment: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "image_id": self.image_id,
                               "image_name": self.image_name, "base_layers": [str(d) for d in self.base_layers],
                               "layers": [str(d) for d in self.layers], "created": self.created,
                               "internal": self.internal, "pid": self.pid, "driver": self.driver}
        for key, unset in _OPTIONAL.items():
            value = getattr(self, key)
            if value != unset:
                out[key] = value
        return {**self.extra, **out}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerState:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        optional = {k: data[k] for k in _OPTIONAL if data.get(k) is not None}
        return cls(str(data["id"]), str(data.get("name") or ""), str(data.get("image_id") or ""),
                   str(data.get("image_name") or ""), digests(data.get("base_layers") or []),
                   digests(data.get("layers") or []), float(data.get("created") or 0),
                   bool(data.get("internal")), int(data.get("pid") or 0), str(data.get("driver") or ""),
                   **optional, extra={k: v for k, v in data.items() if k not in known})


__all__ = ["AttestationRef", "BlobRef", "CacheEntry", "ImageMeta", "ContainerState", "ImageRecord", "LayerInfo", "ManifestRef", "TarOptions", "digests"]
