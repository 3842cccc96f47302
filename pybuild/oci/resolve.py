"""One image of an open source, down to its config: the top-level manifest (an index is
walked to the platform's manifest) and the config blob, each checked against its descriptor.
No layer is read; what `image inspect` shows and what `sbom` unpacks start here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pybuild.errors import DigestMismatch, IntegrityError
from pybuild.oci import spec
from pybuild.oci.digest import Digest, read_upto


@dataclass
class Resolved:
    raw: bytes  # the top-level manifest or index, as stored
    digest: Digest  # its digest
    manifest: spec.Manifest  # the platform's image manifest
    manifest_digest: Digest
    config: bytes  # the config blob, verified


def read_config(src: Any, desc: spec.Descriptor) -> bytes:
    reader = src.get_blob(desc)
    try:
        raw = read_upto(reader, spec.MAX_DOCUMENT_SIZE + 1)
    finally:
        reader.close()
    if len(raw) != desc.size or Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest:
        raise DigestMismatch(f"config blob does not match {desc.digest}", where=src.reference)
    return raw


def resolve(src: Any, platform: str | None = None) -> Resolved:
    """The platform's image (default: this host's) of ``src``, its manifest and config verified."""
    from pybuild.oci.transport import select_manifest

    top, top_type = src.get_manifest()
    doc = spec.parse_manifest(top, top_type)
    raw, digest = top, Digest.of_bytes(top)
    for _ in range(4):
        if not isinstance(doc, spec.Index):
            break
        desc = select_manifest(doc, platform, src.reference)
        raw, mt = src.get_manifest(desc.digest)
        if len(raw) != desc.size or Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest:
            raise IntegrityError(f"manifest {desc.digest} does not match its descriptor", where=src.reference)
        doc = spec.parse_manifest(raw, desc.media_type if desc.media_type in spec.MANIFEST_TYPES else mt)
        digest = desc.digest
    if not isinstance(doc, spec.Manifest):
        raise IntegrityError("image indexes nest too deep", where=src.reference)
    return Resolved(top, Digest.of_bytes(top), doc, digest, read_config(src, doc.config))
