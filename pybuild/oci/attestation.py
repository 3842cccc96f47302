"""In-toto attestations attached to an image as BuildKit attaches them (issue 17).

The pushed top level is an index of two entries per platform: the image manifest, and an
*attestation manifest* listed as platform ``unknown/unknown`` with the annotations
``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest: <the
image manifest's digest>``. The attestation manifest's layers are in-toto statements
(``application/vnd.in-toto+json``, each annotated ``in-toto.io/predicate-type``) whose subject
is that image manifest. Clients that do not know attestations skip unknown/unknown entries
(pybuild's own ``select_manifest`` does). A destination that holds one image (docker-archive)
gets the image alone, and a note says the attestations were left out.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from pybuild.errors import IntegrityError
from pybuild.events import INFO, WARNING, EventCallback, emit
from pybuild.oci import spec
from pybuild.oci.digest import Digest

IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
SPDX_PREDICATE = "https://spdx.dev/Document"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
UNKNOWN = spec.Platform("unknown", "unknown")


@dataclass(frozen=True)
class Predicate:
    """One attestation before it has a subject: its type and its JSON bytes."""

    type: str
    data: bytes


def statement(pred: Predicate, subject_name: str, subject: Digest) -> bytes:
    """An in-toto v1 statement of ``pred`` about the manifest ``subject``."""
    doc = {"_type": STATEMENT_V1, "subject": [{"name": subject_name, "digest": {subject.algorithm: subject.hex}}],
           "predicateType": pred.type, "predicate": json.loads(pred.data)}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def attestation_manifest(statements: list[tuple[str, bytes]]) -> tuple[bytes, dict[Digest, tuple[spec.Descriptor, bytes]]]:
    """The attestation manifest of ``statements`` ((predicate type, bytes)) and its blobs."""
    blobs: dict[Digest, tuple[spec.Descriptor, bytes]] = {}
    layers = []
    for ptype, data in statements:
        desc = spec.Descriptor(IN_TOTO, Digest.of_bytes(data), len(data), annotations={PREDICATE_ANNOTATION: ptype})
        layers.append(desc)
        blobs[desc.digest] = (desc, data)
    config = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in layers]}},
                        separators=(",", ":")).encode()
    config_desc = spec.Descriptor(spec.OCI_CONFIG, Digest.of_bytes(config), len(config))
    blobs[config_desc.digest] = (config_desc, config)
    return spec.Manifest(config_desc, layers).to_json(), blobs


def _platform_of(src: Any, manifest: spec.Manifest) -> spec.Platform:
    from pybuild.oci.resolve import read_config

    cfg = spec.load_json(read_config(src, manifest.config), "config")
    return spec.Platform(cfg.get("os") or "linux", cfg.get("architecture") or "amd64", cfg.get("variant") or None)


def _attach(dst: Any, predicates: list[Predicate], subject_name: str, subject: Digest) -> spec.Descriptor:
    """Write the attestation manifest of ``predicates`` about ``subject`` to ``dst``; its index entry."""
    statements = [(p.type, statement(p, subject_name, subject)) for p in predicates]
    att_raw, blobs = attestation_manifest(statements)
    for desc, data in blobs.values():
        if not dst.has_blob(desc):
            dst.put_blob(desc, io.BytesIO(data))
    dst.put_manifest(att_raw, spec.OCI_MANIFEST, top_level=False)
    return spec.Descriptor(spec.OCI_MANIFEST, Digest.of_bytes(att_raw), len(att_raw), platform=UNKNOWN,
                           annotations={REFERENCE_DIGEST: str(subject), REFERENCE_TYPE: ATTESTATION_MANIFEST})


def _commit_index(dst: Any, entries: list[spec.Descriptor], on_event: EventCallback | None) -> Digest:
    top = spec.Index(entries).to_json()  # OCI: a Docker manifest list has no place for attestations
    dst.put_manifest(top, spec.OCI_INDEX, top_level=True)
    digest = Digest.of_bytes(top)
    emit(on_event, INFO, f"Writing manifest {digest} to {dst.reference}", digest=str(digest))
    dst.commit()
    return digest


def _single(dst: Any) -> bool:
    return not getattr(dst, "supports_index", True)


def _left_out(dst: Any, on_event: EventCallback | None) -> None:
    emit(on_event, WARNING, f"{dst.reference} holds a single image: its attestations are left out "
                            "(push to a registry or an OCI layout to keep them)")


def copy_attested(src: Any, dst: Any, predicates: list[Predicate], subject_name: str, *,
                  format: str | None = None, compression: str | None = None,
                  on_event: EventCallback | None = None) -> Digest:
    """Copy ``src``'s one image to ``dst`` with ``predicates`` as statements about the manifest
    as written there (its digest is known only then); returns the top-level digest written."""
    from pybuild.oci.transport import _Copier, copy_image

    if _single(dst):
        _left_out(dst, on_event)
        return copy_image(src, dst, format=format, compression=compression, on_event=on_event)
    copier = _Copier(src, dst, format, compression, on_event)
    raw, media_type = src.get_manifest()
    out_raw, out_type = copier.copy_doc(raw, media_type, top_level=False)
    image = spec.parse_manifest(out_raw, out_type)
    if not isinstance(image, spec.Manifest):
        from pybuild.errors import UnsupportedError

        raise UnsupportedError(f"{src.reference}: attestations attach to one image, not an index")
    subject = Digest.of_bytes(out_raw)
    entry = spec.Descriptor(out_type, subject, len(out_raw), platform=_platform_of(src, image))
    return _commit_index(dst, [entry, _attach(dst, predicates, subject_name, subject)], on_event)


def copy_index_attested(src: Any, dst: Any, predicates: dict[str, tuple[list[Predicate], str]], *,
                        format: str | None = None, compression: str | None = None,
                        on_event: EventCallback | None = None) -> Digest:
    """Copy ``src``'s index (every instance) to ``dst``, each instance whose digest ``predicates``
    names followed by its attestation manifest (predicates, subject name)."""
    from dataclasses import replace

    from pybuild.oci.transport import _Copier, copy_image

    if _single(dst):
        _left_out(dst, on_event)
        return copy_image(src, dst, all_platforms=True, format=format, compression=compression, on_event=on_event)
    copier = _Copier(src, dst, format, compression, on_event)
    raw, media_type = src.get_manifest()
    index = spec.parse_manifest(raw, media_type)
    if not isinstance(index, spec.Index):
        raise IntegrityError(f"{src.reference} is not an index")
    entries: list[spec.Descriptor] = []
    for desc in index.manifests:
        child_raw, child_type = copier.fetch_child(desc)
        out_raw, out_type = copier.copy_doc(child_raw, child_type, top_level=False, depth=1)
        subject = Digest.of_bytes(out_raw)
        entries.append(replace(desc, media_type=out_type, digest=subject, size=len(out_raw)))
        if str(desc.digest) in predicates:
            preds, name = predicates[str(desc.digest)]
            entries.append(_attach(dst, preds, name, subject))
    return _commit_index(dst, entries, on_event)


def read_attestations(src: Any) -> list[dict[str, Any]]:
    """Every attestation an image's top-level index carries: for each, the manifest it is about,
    its predicate type and the statement (each blob checked against its descriptor)."""
    from pybuild.oci.digest import read_upto

    raw, media_type = src.get_manifest()
    doc = spec.parse_manifest(raw, media_type)
    if not isinstance(doc, spec.Index):
        return []
    out: list[dict[str, Any]] = []
    for entry in doc.manifests:
        ann = entry.annotations or {}
        if ann.get(REFERENCE_TYPE) != ATTESTATION_MANIFEST:
            continue
        child, _ = src.get_manifest(entry.digest)
        if Digest.of_bytes(child, entry.digest.algorithm) != entry.digest or len(child) != entry.size:
            raise IntegrityError(f"attestation manifest {entry.digest} does not match its descriptor",
                                 where=src.reference)
        manifest = spec.parse_manifest(child, spec.OCI_MANIFEST)
        if not isinstance(manifest, spec.Manifest):
            continue
        for layer in manifest.layers:
            reader = src.get_blob(layer)
            try:
                data = read_upto(reader, 256 << 20)
            finally:
                reader.close()
            if Digest.of_bytes(data, layer.digest.algorithm) != layer.digest or len(data) != layer.size:
                raise IntegrityError(f"attestation {layer.digest} does not match its descriptor", where=src.reference)
            out.append({"subject": ann.get(REFERENCE_DIGEST, ""), "manifest": str(entry.digest),
                        "predicateType": (layer.annotations or {}).get(PREDICATE_ANNOTATION, ""),
                        "digest": str(layer.digest), "statement": spec.load_json(data, "statement", 256 << 20)})
    return out
