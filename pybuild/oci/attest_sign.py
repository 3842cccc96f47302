"""Signed attestations in cosign's format: ``pybuild attest`` and ``verify-attestation``.

cosign keeps them beside the image as it keeps signatures (:mod:`pybuild.oci.sign`, whose
key handling and tag image are shared): an OCI image tagged ``sha256-<hex>.att`` in the
image's repository, one layer per attestation, each a DSSE envelope
(``application/vnd.dsse.envelope.v1+json``: ``payloadType`` ``application/vnd.in-toto+json``,
the base64 in-toto statement, and an ECDSA-P256/SHA-256 signature over DSSE's
pre-authentication encoding), annotated ``predicateType``. The statement's subject is the
manifest digest the reference names when signing; verification recomputes that digest, so a
tag moved to another image has nothing that verifies.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from pybuild.errors import ConfigError, IntegrityError, PybuildError
from pybuild.oci.digest import Digest

DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"  # what cosign writes
PREDICATE_ANNOTATION = "predicateType"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
# cosign attest --type names -> predicate types (a URI is taken as it is)
TYPES = {"slsaprovenance": "https://slsa.dev/provenance/v0.2", "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
         "slsaprovenance1": "https://slsa.dev/provenance/v1", "spdx": "https://spdx.dev/Document",
         "spdxjson": "https://spdx.dev/Document", "cyclonedx": "https://cyclonedx.org/bom",
         "link": "https://in-toto.io/Link/v1", "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
         "custom": "https://cosign.sigstore.dev/attestation/v1"}
MAX_ENVELOPE = 64 << 20


def predicate_type(name: str) -> str:
    if name in TYPES:
        return TYPES[name]
    if "://" in name:
        return name
    raise ConfigError(f"--type {name}: use {', '.join(sorted(TYPES))} or a predicate type URI")


def attestation_tag(manifest_digest: Digest) -> str:
    return f"{manifest_digest.algorithm}-{manifest_digest.hex}.att"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature signs."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def _predicate(kind: str, predicate: bytes) -> Any:
    if TYPES.get(kind) == TYPES["custom"]:  # cosign wraps a custom predicate's text
        from datetime import UTC, datetime

        return {"Data": predicate.decode("utf-8", "replace"),
                "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        return json.loads(predicate)
    except ValueError as e:
        raise ConfigError(f"the predicate is not JSON ({e}); --type custom takes any text") from None


def attest(ref: str, key_path: Path, predicate_file: Path, kind: str, *, password: bytes | None = None,
           options: Any = None) -> Digest:
    """Sign ``predicate_file`` as an in-toto statement about the image ``ref`` names now and
    push it beside it (``sha256-HEX.att``); returns the attested manifest digest."""
    from pybuild.oci import spec
    from pybuild.oci.sign import push_layers, repository_and_digest, sign_bytes, tag_layers

    ptype = predicate_type(kind)
    try:
        raw = predicate_file.read_bytes()
    except OSError as e:
        raise ConfigError(f"--predicate {predicate_file}: {e.strerror}") from None
    repo, _, digest = repository_and_digest(ref, options)
    statement = {"_type": STATEMENT_V01, "predicateType": ptype,
                 "subject": [{"name": repo, "digest": {digest.algorithm: digest.hex}}],
                 "predicate": _predicate(kind, raw)}
    body = json.dumps(statement, separators=(",", ":")).encode()
    sig = sign_bytes(pae(IN_TOTO_PAYLOAD, body), key_path, password)
    envelope = json.dumps({"payloadType": IN_TOTO_PAYLOAD, "payload": base64.b64encode(body).decode(),
                           "signatures": [{"keyid": "", "sig": sig}]}, separators=(",", ":")).encode()
    tag = attestation_tag(digest)
    layers = tag_layers(repo, tag, DSSE_ENVELOPE, options)
    edigest = Digest.of_bytes(envelope)
    if not any(d.digest == edigest for d in layers):
        layers.append(spec.Descriptor(DSSE_ENVELOPE, edigest, len(envelope),
                                      annotations={PREDICATE_ANNOTATION: ptype, SIGNATURE_ANNOTATION: ""}))
    push_layers(repo, tag, layers, {edigest: envelope}, options)
    return digest


def verify_attestation(ref: str, public_key: Path, kind: str, *, options: Any = None) -> list[dict[str, Any]]:
    """The statements of type ``kind`` about the image ``ref`` names now that ``public_key``
    verifies; IntegrityError when there is none."""
    from pybuild.oci.sign import fetch_tag_blob, load_public, repository_and_digest, tag_layers, verify_bytes

    key = load_public(public_key)
    ptype = predicate_type(kind)
    repo, _, digest = repository_and_digest(ref, options)
    tag = attestation_tag(digest)
    try:
        layers = tag_layers(repo, tag, DSSE_ENVELOPE, options)
    except PybuildError as e:
        raise IntegrityError(f"cannot read the attestations of {ref}: {e.message}") from None
    good = []
    for desc in layers:
        try:
            env = json.loads(fetch_tag_blob(repo, tag, desc, options, MAX_ENVELOPE))
            body = base64.b64decode(env["payload"], validate=True)
            sigs = [s["sig"] for s in env["signatures"]]
            if env["payloadType"] != IN_TOTO_PAYLOAD:
                continue
        except (ValueError, KeyError, TypeError):
            continue
        if not any(verify_bytes(pae(IN_TOTO_PAYLOAD, body), s, key) for s in sigs if isinstance(s, str)):
            continue
        try:
            statement = json.loads(body)
            subjects = [s["digest"].get(digest.algorithm) for s in statement["subject"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if digest.hex in subjects and statement.get("predicateType") == ptype:
            good.append(statement)
    if not good:
        raise IntegrityError(f"no {kind} attestation of {ref} ({digest}) verifies with {public_key}")
    return good
