"""OCI documents: one model in memory, Docker v2s2 only at the edges.

Parsing is strict because these bytes come from strangers: a size cap (4 MiB,
CVE-2020-1702), no duplicate JSON keys, and no ambiguous shapes (a manifest
carrying ``manifests`` or an index carrying ``layers``, CVE-2021-41190).

Serialisation follows Go's ``encoding/json`` as containers/image uses it: field
order of the Go structs, ``omitempty`` semantics, compact separators and the
HTML-safe escapes of ``<``, ``>`` and ``&``, so documents we write look like the
ones buildah and skopeo write. Bytes that came from elsewhere are never
re-serialised unless a conversion is asked for; the digest is of the bytes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, overload

from pybuild.errors import ConfigError, IntegrityError, UnsupportedError
from pybuild.oci.digest import Digest
from pybuild.values import Value

# --- media types ---------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CREATED = "org.opencontainers.image.created"

MAX_DOCUMENT_SIZE = 4 << 20

_LAYER_COMPRESSION = {
    OCI_LAYER: "none", OCI_LAYER_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none", OCI_LAYER_NONDIST_GZIP: "gzip", OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER: "none", DOCKER_LAYER_GZIP: "gzip", DOCKER_LAYER_FOREIGN: "gzip",
}
_OCI_TO_DOCKER = {
    OCI_MANIFEST: DOCKER_MANIFEST, OCI_INDEX: DOCKER_MANIFEST_LIST, OCI_CONFIG: DOCKER_CONFIG,
    OCI_LAYER: DOCKER_LAYER, OCI_LAYER_GZIP: DOCKER_LAYER_GZIP,
    OCI_LAYER_NONDIST_GZIP: DOCKER_LAYER_FOREIGN,
}
_DOCKER_TO_OCI = {
    DOCKER_MANIFEST: OCI_MANIFEST, DOCKER_MANIFEST_LIST: OCI_INDEX, DOCKER_CONFIG: OCI_CONFIG,
    DOCKER_LAYER: OCI_LAYER, DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
    DOCKER_LAYER_FOREIGN: OCI_LAYER_NONDIST_GZIP,
}


def layer_media_type(compression: str, docker: bool = False) -> str:
    """The layer media type for a compression (``gzip``, ``zstd``, ``none``)."""
    if docker:
        if compression == "zstd":
            raise UnsupportedError("zstd layers cannot be described in a Docker manifest; use gzip")
        table = {"gzip": DOCKER_LAYER_GZIP, "none": DOCKER_LAYER}
    else:
        table = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}
    if compression not in table:
        raise ConfigError(f"unknown compression {compression!r} (use gzip, zstd or none)")
    return table[compression]


def compression_of(media_type: str) -> str:
    """``gzip``, ``zstd`` or ``none`` from a layer media type (unknown types count as none)."""
    if media_type in _LAYER_COMPRESSION:
        return _LAYER_COMPRESSION[media_type]
    if media_type.endswith(("+gzip", ".gzip")):
        return "gzip"
    if media_type.endswith("+zstd"):
        return "zstd"
    return "none"


def is_layer(media_type: str) -> bool:
    return media_type in _LAYER_COMPRESSION


# --- Go-compatible JSON ----------------------------------------------------------------------

def go_json(value: Any) -> bytes:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML-safe escapes, UTF-8 kept)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    # these characters only ever occur inside strings in JSON text, so replacing is safe
    for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        if ch in text:
            text = text.replace(ch, esc)
    return text.encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise IntegrityError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def load_json(raw: bytes, what: str = "document", limit: int = MAX_DOCUMENT_SIZE) -> Any:
    """Parse untrusted JSON: size cap, duplicate keys refused, one error type."""
    if len(raw) > limit:
        raise IntegrityError(f"{what} is {len(raw)} bytes, over the {limit}-byte limit")
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except IntegrityError as e:
        raise IntegrityError(f"{what}: {e.message}") from None
    except (ValueError, RecursionError) as e:
        raise IntegrityError(f"{what} is not valid JSON: {e}") from None


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IntegrityError(f"{what} must be a JSON object")
    return value


def _str(d: Mapping[str, Any], key: str, what: str, default: str | None = None) -> str | None:
    value = d.get(key, default)
    if value is not None and not isinstance(value, str):
        raise IntegrityError(f"{what}: {key} must be a string")
    return value


def _str_map(value: Any, what: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise IntegrityError(f"{what} must map strings to strings")
    return dict(value)


def _str_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IntegrityError(f"{what} must be a list of strings")
    return list(value)


# --- Platform ---------------------------------------------------------------------------------

_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}
# newest first: a machine of one variant runs the binaries of every variant after it
_RUNS_VARIANTS = {"arm": ("v8", "v7", "v6", "v5"), "amd64": ("v4", "v3", "v2", "v1"), "arm64": ("v9", "v8")}


def pick_platform(manifests: list[Descriptor], want: Platform) -> Descriptor | None:
    """The index entry whose platform suits ``want`` best (containerd's order); attestation
    entries (unknown/unknown) never match."""
    ranked = [(rank, i, d) for i, d in enumerate(manifests)
              if d.platform is not None and not d.platform.is_unknown()
              and (rank := want.match_rank(d.platform)) is not None]
    return min(ranked, key=lambda t: (t[0], t[1]))[2] if ranked else None


@dataclass(frozen=True)
class Platform:
    """An OCI platform; ``variant`` None means the architecture's default (arm64 -> v8)."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8``, ``linux/amd64``, ``arm64`` (os defaults to linux)."""
        parts = text.strip().split("/")
        if not all(parts) or len(parts) > 3:
            raise ConfigError(f"invalid platform {text!r} (want os/arch[/variant])")
        if len(parts) == 1:
            parts = ["linux", *parts]
        return cls(parts[0].lower(), parts[1].lower(), parts[2].lower() if len(parts) > 2 else None)

    def normalized_variant(self) -> str | None:
        return self.variant or _DEFAULT_VARIANT.get(self.architecture)

    def matches(self, other: Platform) -> bool:
        """Same os and architecture, and the same variant once defaults are filled in."""
        return (self.os == other.os and self.architecture == other.architecture
                and self.normalized_variant() == other.normalized_variant())

    def match_rank(self, image: Platform) -> int | None:
        """How well an image built for ``image`` suits this wanted platform, as containerd's
        matcher: 0 for the same variant, 1, 2... for older ones this one also runs (arm/v7
        runs v6 and v5; amd64/v3 runs v2 and v1), None when it cannot run it."""
        if self.os != image.os or self.architecture != image.architecture:
            return None
        order = _RUNS_VARIANTS.get(self.architecture, ())
        want, have = self.normalized_variant(), image.normalized_variant()
        if want == have:
            return 0
        if want in order and have in order and order.index(have) > order.index(want):
            return order.index(have) - order.index(want)
        return None

    def is_unknown(self) -> bool:
        """Attestation and signature entries are listed as unknown/unknown."""
        return self.os == "unknown" or self.architecture == "unknown"

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Platform:
        d = _obj(d, "platform")
        features = _str_list(d.get("os.features"), "platform os.features")
        return cls(os=_str(d, "os", "platform", "") or "",
                   architecture=_str(d, "architecture", "platform", "") or "",
                   variant=_str(d, "variant", "platform") or None,
                   os_version=_str(d, "os.version", "platform") or None,
                   os_features=tuple(features) if features else None)


# --- Descriptor -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Descriptor:
    """What a manifest or index says about a blob: type, digest, size (and extras)."""

    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    urls: list[str] | None = None
    artifact_type: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", Digest(self.digest))
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise IntegrityError(f"descriptor {self.digest}: invalid size {self.size!r}")

    def to_dict(self, docker: bool = False) -> dict[str, Any]:
        """Go field order: OCI ``mediaType, digest, size, ...``; Docker ``mediaType, size, digest``."""
        d: dict[str, Any] = {"mediaType": self.media_type}
        if docker:
            d["size"] = self.size
            d["digest"] = str(self.digest)
        else:
            d["digest"] = str(self.digest)
            d["size"] = self.size
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations and not docker:
            d["annotations"] = dict(sorted(self.annotations.items()))  # Go sorts map keys
        if self.platform is not None:
            d["platform"] = self.platform.to_dict()
        if self.artifact_type and not docker:
            d["artifactType"] = self.artifact_type
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Descriptor:
        d = _obj(d, "descriptor")
        mt = d.get("mediaType")
        if not isinstance(mt, str) or not mt:
            raise IntegrityError("descriptor without a mediaType")
        if "digest" not in d or not isinstance(d["digest"], str):
            raise IntegrityError("descriptor without a digest")
        size = d.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise IntegrityError(f"descriptor {d['digest']!r}: invalid size {size!r}")
        return cls(media_type=mt, digest=Digest(d["digest"]), size=size,
                   annotations=_str_map(d.get("annotations"), "descriptor annotations"),
                   platform=Platform.from_dict(d["platform"]) if d.get("platform") is not None else None,
                   urls=_str_list(d.get("urls"), "descriptor urls"),
                   artifact_type=_str(d, "artifactType", "descriptor"))

    @property
    def ref_name(self) -> str | None:
        return (self.annotations or {}).get(ANNOTATION_REF_NAME)

    def with_annotations(self, annotations: dict[str, str] | None) -> Descriptor:
        return replace(self, annotations=annotations or None)


# --- Manifest and Index -----------------------------------------------------------------------

@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker v2s2, told apart by ``media_type``)."""

    config: Descriptor
    layers: list[Descriptor]
    media_type: str = OCI_MANIFEST
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @property
    def is_docker(self) -> bool:
        return self.media_type == DOCKER_MANIFEST

    def to_dict(self) -> dict[str, Any]:
        docker = self.is_docker
        d: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type and not docker:
            d["artifactType"] = self.artifact_type
        d["config"] = self.config.to_dict(docker)
        d["layers"] = [layer.to_dict(docker) for layer in self.layers]
        if self.subject is not None and not docker:
            d["subject"] = self.subject.to_dict()
        if self.annotations and not docker:
            d["annotations"] = dict(sorted(self.annotations.items()))  # Go sorts map keys
        return d

    def to_json(self) -> bytes:
        return go_json(self.to_dict())

    def descriptors(self) -> list[Descriptor]:
        """Every blob this manifest references (config first, then layers)."""
        return [self.config, *self.layers]


@dataclass(frozen=True)
class Index:
    """An image index (OCI) or manifest list (Docker)."""

    manifests: list[Descriptor]
    media_type: str = OCI_INDEX
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @property
    def is_docker(self) -> bool:
        return self.media_type == DOCKER_MANIFEST_LIST

    def to_dict(self) -> dict[str, Any]:
        docker = self.is_docker
        d: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type and not docker:
            d["artifactType"] = self.artifact_type
        d["manifests"] = [m.to_dict(docker) for m in self.manifests]
        if self.subject is not None and not docker:
            d["subject"] = self.subject.to_dict()
        if self.annotations and not docker:
            d["annotations"] = dict(sorted(self.annotations.items()))  # Go sorts map keys
        return d

    def to_json(self) -> bytes:
        return go_json(self.to_dict())


def guess_media_type(doc: Mapping[str, Any]) -> str | None:
    """The media type a document declares, or one its shape implies (None if ambiguous)."""
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if doc.get("schemaVersion") == 1:
        return DOCKER_MANIFEST_V1
    has_index = "manifests" in doc
    has_manifest = "config" in doc or "layers" in doc
    if has_index and not has_manifest:
        return OCI_INDEX
    if has_manifest and not has_index:
        return OCI_MANIFEST
    return None


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or index, refusing oversized, duplicate-keyed or ambiguous documents.

    ``media_type`` is what the transport says (Content-Type, a descriptor); when it is
    a known manifest type the document's own ``mediaType`` must agree with it.
    """
    doc = _obj(load_json(raw, "manifest"), "manifest")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise IntegrityError("manifest: mediaType must be a string")
    known = (*MANIFEST_TYPES, *INDEX_TYPES)
    if media_type in known and declared and declared != media_type:
        raise IntegrityError(f"manifest declares media type {declared} but was served as {media_type}")
    mt = declared or (media_type if media_type in known else None) or guess_media_type(doc)
    if mt in (DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED) or doc.get("schemaVersion") == 1:
        raise UnsupportedError("Docker schema 1 manifests are not supported")
    if mt is None:
        raise IntegrityError("manifest is ambiguous: it has both manifests and config/layers")
    if doc.get("schemaVersion") != 2:
        raise IntegrityError(f"manifest: unsupported schemaVersion {doc.get('schemaVersion')!r}")
    annotations = _str_map(doc.get("annotations"), "manifest annotations")
    subject = Descriptor.from_dict(doc["subject"]) if doc.get("subject") is not None else None
    artifact_type = _str(doc, "artifactType", "manifest")
    if mt in INDEX_TYPES:
        if "layers" in doc or "config" in doc:
            raise IntegrityError("index is ambiguous: it also carries config or layers")
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise IntegrityError("index: manifests must be a list")
        return Index([Descriptor.from_dict(e) for e in entries], mt, annotations, subject, artifact_type)
    if mt in MANIFEST_TYPES:
        if "manifests" in doc:
            raise IntegrityError("manifest is ambiguous: it also carries manifests")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise IntegrityError("manifest: layers must be a list")
        if "config" not in doc:
            raise IntegrityError("manifest: no config")
        return Manifest(Descriptor.from_dict(doc["config"]), [Descriptor.from_dict(x) for x in layers],
                        mt, annotations, subject, artifact_type)
    raise UnsupportedError(f"unsupported manifest media type {mt}")


# --- conversion at the edge -------------------------------------------------------------------

def _docker_descriptor(d: Descriptor) -> Descriptor:
    if d.media_type in (OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD):
        raise UnsupportedError(f"layer {d.digest.short} is zstd-compressed; Docker manifests need "
                               "gzip: recompress it first")
    return Descriptor(_OCI_TO_DOCKER.get(d.media_type, d.media_type), d.digest, d.size,
                      urls=d.urls, platform=d.platform)


def _oci_descriptor(d: Descriptor) -> Descriptor:
    return replace(d, media_type=_DOCKER_TO_OCI.get(d.media_type, d.media_type))


@overload
def to_docker_manifest(doc: Manifest) -> Manifest: ...
@overload
def to_docker_manifest(doc: Index) -> Index: ...
def to_docker_manifest(doc: Manifest | Index) -> Manifest | Index:
    """OCI manifest -> Docker v2s2, OCI index -> manifest list (annotations are dropped)."""
    if isinstance(doc, Index):
        return Index([_docker_descriptor(m) for m in doc.manifests], DOCKER_MANIFEST_LIST)
    return Manifest(_docker_descriptor(doc.config), [_docker_descriptor(x) for x in doc.layers],
                    DOCKER_MANIFEST)


@overload
def to_oci_manifest(doc: Manifest) -> Manifest: ...
@overload
def to_oci_manifest(doc: Index) -> Index: ...
def to_oci_manifest(doc: Manifest | Index) -> Manifest | Index:
    """Docker v2s2 -> OCI manifest, manifest list -> OCI index."""
    if isinstance(doc, Index):
        return replace(doc, manifests=[_oci_descriptor(m) for m in doc.manifests], media_type=OCI_INDEX)
    return replace(doc, config=_oci_descriptor(doc.config), layers=[_oci_descriptor(x) for x in doc.layers],
                   media_type=OCI_MANIFEST)


# --- image configuration ----------------------------------------------------------------------

def rfc3339(when: datetime | float | int) -> str:
    """A timestamp the way Go's time.Time marshals it (RFC 3339, UTC, ``Z``, trimmed nanos)."""
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, UTC)
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += ("." + f"{when.microsecond:06d}").rstrip("0")
    return text + "Z"


def _source_shape(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Key order of a parsed object, with the values that were empty (null, [], "", false)."""
    return {k: v if not v else _NONEMPTY for k, v in doc.items()}


class _NonEmpty:
    """Marks a key whose value was not empty; survives deepcopy as the same object."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _NonEmpty:
        return self

    def __copy__(self) -> _NonEmpty:
        return self


_NONEMPTY = _NonEmpty()


def _restore_shape(d: dict[str, Any], shape: Mapping[str, Any], allowed: Callable[[str], bool]) -> dict[str, Any]:
    """Put keys back in the order they were read, re-adding known keys that were empty then
    and are empty now, so a document read and written again keeps its bytes."""
    if not shape:
        return d
    for key, value in shape.items():
        if key not in d and value is not _NONEMPTY and allowed(key):
            d[key] = copy.deepcopy(value)
    out = {k: d[k] for k in shape if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


# (json key, attribute, docker-only)
_CONTAINER_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("User", "user", False),
    ("ExposedPorts", "exposed_ports", False),
    ("Env", "env", False),
    ("Entrypoint", "entrypoint", False),
    ("Cmd", "cmd", False),
    ("Healthcheck", "healthcheck", True),
    ("Volumes", "volumes", False),
    ("WorkingDir", "working_dir", False),
    ("Labels", "labels", False),
    ("StopSignal", "stop_signal", False),
    ("ArgsEscaped", "args_escaped", False),
    ("OnBuild", "on_build", True),
    ("Shell", "shell", True),
)
_DOCKER_ONLY = {key for key, _, docker_only in _CONTAINER_FIELDS if docker_only}


class _Record(Value):
    """A config type: mutable, so unhashable; ``source_shape`` is not compared or printed."""

    __hash__ = None  # type: ignore[assignment]

    def _keep(self, extra: dict[str, Any] | None, source_shape: dict[str, Any] | None) -> None:
        self.extra: dict[str, Any] = {} if extra is None else extra  # keys no attribute reads
        self.source_shape: dict[str, Any] = {} if source_shape is None else source_shape


class ContainerConfig(_Record):
    """The ``config`` object of an image: Docker's capitalised keys, snake_case attributes.

    ``entrypoint``/``cmd`` None means "not set" (distinct from an explicit empty list,
    which serialises the same way, as Go's omitempty does). Unknown keys (Hostname,
    Image, ...) stay in ``extra`` and are written back.
    """

    _FIELDS = ("user", "exposed_ports", "env", "entrypoint", "cmd", "volumes", "working_dir", "labels",
               "stop_signal", "args_escaped", "healthcheck", "on_build", "shell", "extra")

    def __init__(self, user: str = "", exposed_ports: dict[str, Any] | None = None, env: list[str] | None = None,
                 entrypoint: list[str] | None = None, cmd: list[str] | None = None,
                 volumes: dict[str, Any] | None = None, working_dir: str = "", labels: dict[str, str] | None = None,
                 stop_signal: str = "", args_escaped: bool = False, healthcheck: dict[str, Any] | None = None,
                 on_build: list[str] | None = None, shell: list[str] | None = None,
                 extra: dict[str, Any] | None = None, source_shape: dict[str, Any] | None = None) -> None:
        self.user, self.working_dir, self.stop_signal, self.args_escaped = user, working_dir, stop_signal, args_escaped
        self.entrypoint, self.cmd, self.healthcheck = entrypoint, cmd, healthcheck
        self.exposed_ports: dict[str, Any] = {} if exposed_ports is None else exposed_ports
        self.env: list[str] = [] if env is None else env
        self.volumes: dict[str, Any] = {} if volumes is None else volumes
        self.labels: dict[str, str] = {} if labels is None else labels
        self.on_build: list[str] = [] if on_build is None else on_build
        self.shell: list[str] = [] if shell is None else shell
        self._keep(extra, source_shape)

    def to_dict(self, docker: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for key, attr, docker_only in _CONTAINER_FIELDS:
            if docker_only and not docker:
                continue
            value = getattr(self, attr)
            if value:  # omitempty
                if attr in ("exposed_ports", "volumes", "labels"):
                    value = dict(sorted(value.items()))  # maps: Go writes their keys sorted
                d[key] = copy.deepcopy(value)
        for key, value in self.extra.items():
            d.setdefault(key, value)
        return _restore_shape(d, self.source_shape, lambda k: docker or k not in _DOCKER_ONLY)

    @classmethod
    def from_dict(cls, d: Any) -> ContainerConfig:
        d = _obj(d or {}, "image config: config")
        cfg = cls()
        extra = dict(d)
        for key, attr, _ in _CONTAINER_FIELDS:
            if key not in extra:
                continue
            value = extra.pop(key)
            if value is None:
                continue
            if attr in ("user", "working_dir", "stop_signal") and not isinstance(value, str):
                raise IntegrityError(f"image config: {key} must be a string")
            if attr in ("env", "entrypoint", "cmd", "on_build", "shell"):
                value = _str_list(value, f"image config: {key}")
            if attr == "labels":
                value = _str_map(value, "image config: Labels")
            if attr in ("exposed_ports", "volumes", "healthcheck"):
                value = _obj(value, f"image config: {key}")
            if attr == "args_escaped" and not isinstance(value, bool):
                raise IntegrityError("image config: ArgsEscaped must be a boolean")
            setattr(cfg, attr, value)
        cfg.extra = extra
        cfg.source_shape = _source_shape(d)
        return cfg

    def get_env(self, name: str) -> str | None:
        for item in self.env:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None

    def set_env(self, name: str, value: str) -> None:
        """Replace ``name`` in place (keeping its position) or append it, as buildah does."""
        entry = f"{name}={value}"
        for i, item in enumerate(self.env):
            if item.partition("=")[0] == name:
                self.env[i] = entry
                return
        self.env.append(entry)


_HISTORY_FIELDS = (("created", "created"), ("created_by", "created_by"), ("author", "author"),
                   ("comment", "comment"), ("empty_layer", "empty_layer"))


def healthcheck(test: list[str] | None, *, base: Mapping[str, Any] | None = None, interval: int = 0,
                timeout: int = 0, start_period: int = 0, start_interval: int = 0,
                retries: int | None = None) -> dict[str, Any]:
    """Docker's ``Healthcheck`` object, as HEALTHCHECK and ``config --healthcheck*`` make it:
    ``test`` (None: ``{"Test": ["NONE"]}`` unless ``base`` is edited), then the timings in
    nanoseconds that are set (0: not set) and ``Retries`` when given, over a copy of ``base``."""
    if test is None and base is None:
        return {"Test": ["NONE"]}
    hc: dict[str, Any] = dict(base or {})
    if test is not None:
        hc = {"Test": list(test)}
    for key, value in (("Interval", interval), ("Timeout", timeout), ("StartPeriod", start_period),
                       ("StartInterval", start_interval)):
        if value:
            hc[key] = value
    if retries is not None:
        hc["Retries"] = retries
    return hc


class History(_Record):
    """One history entry; ``empty_layer`` marks steps that added no layer."""

    _FIELDS = ("created", "created_by", "author", "comment", "empty_layer", "extra")

    def __init__(self, created: str | None = None, created_by: str = "", author: str = "", comment: str = "",
                 empty_layer: bool = False, extra: dict[str, Any] | None = None,
                 source_shape: dict[str, Any] | None = None) -> None:
        self.created, self.created_by, self.author, self.comment = created, created_by, author, comment
        self.empty_layer = empty_layer
        self._keep(extra, source_shape)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for key, attr in _HISTORY_FIELDS:
            value = getattr(self, attr)
            if value:
                d[key] = value
        for key, value in self.extra.items():
            d.setdefault(key, value)
        return _restore_shape(d, self.source_shape, lambda k: True)

    @classmethod
    def from_dict(cls, d: Any) -> History:
        d = dict(_obj(d, "image config: history entry"))
        h = cls(source_shape=_source_shape(d))
        for key, attr in _HISTORY_FIELDS:
            if key in d:
                value = d.pop(key)
                if value is None:
                    continue
                if attr == "empty_layer" and not isinstance(value, bool):
                    raise IntegrityError("image config: history empty_layer must be a boolean")
                if attr != "empty_layer" and not isinstance(value, str):
                    raise IntegrityError(f"image config: history {key} must be a string")
                setattr(h, attr, value)
        h.extra = d
        return h


_TOP_FIELDS = ("created", "author", "architecture", "os", "os.version", "os.features", "variant",
               "config", "rootfs", "history")


class ImageConfig(_Record):
    """An image configuration (OCI and Docker share it; Docker-only fields kept for docker)."""

    _FIELDS = ("architecture", "os", "variant", "os_version", "os_features", "created", "author", "config",
               "rootfs_diff_ids", "rootfs_type", "history", "extra")

    def __init__(self, architecture: str = "", os: str = "linux", variant: str | None = None,
                 os_version: str | None = None, os_features: list[str] | None = None, created: str | None = None,
                 author: str = "", config: ContainerConfig | None = None, rootfs_diff_ids: list[Digest] | None = None,
                 rootfs_type: str = "layers", history: list[History] | None = None,
                 extra: dict[str, Any] | None = None, source_shape: dict[str, Any] | None = None) -> None:
        self.architecture, self.os, self.variant, self.os_version = architecture, os, variant, os_version
        self.os_features, self.created, self.author, self.rootfs_type = os_features, created, author, rootfs_type
        self.config = ContainerConfig() if config is None else config
        self.rootfs_diff_ids: list[Digest] = [] if rootfs_diff_ids is None else rootfs_diff_ids
        self.history: list[History] = [] if history is None else history
        self._keep(extra, source_shape)

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant, self.os_version,
                        tuple(self.os_features) if self.os_features else None)

    def to_dict(self, docker: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.created:
            d["created"] = self.created
        if self.author:
            d["author"] = self.author
        d["architecture"] = self.architecture
        d["os"] = self.os
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        if self.variant:
            d["variant"] = self.variant
        d["config"] = self.config.to_dict(docker)  # a Go struct: omitempty does not drop it
        d["rootfs"] = {"type": self.rootfs_type, "diff_ids": [str(x) for x in self.rootfs_diff_ids]}
        if self.history:
            d["history"] = [h.to_dict() for h in self.history]
        for key, value in self.extra.items():
            d.setdefault(key, value)
        return _restore_shape(d, self.source_shape, lambda k: True)

    def to_json(self, docker: bool = False) -> bytes:
        """Compact Go-style JSON; ``docker=False`` drops Healthcheck, OnBuild and Shell."""
        return go_json(self.to_dict(docker))

    @classmethod
    def from_json(cls, raw: bytes) -> ImageConfig:
        return cls.from_dict(load_json(raw, "image config"))

    @classmethod
    def from_dict(cls, doc: Any) -> ImageConfig:
        doc = dict(_obj(doc, "image config"))
        cfg = cls(architecture=_str(doc, "architecture", "image config", "") or "",
                  os=_str(doc, "os", "image config", "") or "",
                  variant=_str(doc, "variant", "image config") or None,
                  os_version=_str(doc, "os.version", "image config") or None,
                  os_features=_str_list(doc.get("os.features"), "image config os.features"),
                  created=_str(doc, "created", "image config") or None,
                  author=_str(doc, "author", "image config", "") or "",
                  config=ContainerConfig.from_dict(doc.get("config")))
        rootfs = doc.get("rootfs")
        if rootfs is not None:
            rootfs = _obj(rootfs, "image config: rootfs")
            cfg.rootfs_type = _str(rootfs, "type", "image config: rootfs", "layers") or "layers"
            ids = rootfs.get("diff_ids") or []
            if not isinstance(ids, list):
                raise IntegrityError("image config: rootfs.diff_ids must be a list")
            cfg.rootfs_diff_ids = [Digest(x) for x in ids]
        history = doc.get("history") or []
        if not isinstance(history, list):
            raise IntegrityError("image config: history must be a list")
        cfg.history = [History.from_dict(h) for h in history]
        cfg.extra = {k: v for k, v in doc.items() if k not in _TOP_FIELDS}
        cfg.source_shape = _source_shape(doc)
        return cfg

    def copy(self) -> ImageConfig:
        return copy.deepcopy(self)


__all__ = [
    "healthcheck",
    "OCI_MANIFEST", "OCI_INDEX", "OCI_CONFIG", "OCI_LAYER", "OCI_LAYER_GZIP", "OCI_LAYER_ZSTD",
    "OCI_LAYER_NONDIST", "OCI_LAYER_NONDIST_GZIP", "OCI_LAYER_NONDIST_ZSTD", "OCI_EMPTY",
    "DOCKER_MANIFEST", "DOCKER_MANIFEST_LIST", "DOCKER_CONFIG", "DOCKER_LAYER", "DOCKER_LAYER_GZIP",
    "DOCKER_LAYER_FOREIGN", "MANIFEST_TYPES", "INDEX_TYPES", "CONFIG_TYPES", "ANNOTATION_REF_NAME",
    "ANNOTATION_CREATED", "MAX_DOCUMENT_SIZE",
    "layer_media_type", "compression_of", "is_layer", "go_json", "load_json", "Platform", "Descriptor",
    "Manifest", "Index", "guess_media_type", "parse_manifest", "to_docker_manifest", "to_oci_manifest",
    "rfc3339", "ContainerConfig", "History", "ImageConfig",
]
