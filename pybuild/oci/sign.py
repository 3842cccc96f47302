"""Image signatures in cosign's format, with keys from ``cryptography``.

A signature signs a "simple signing" payload naming the repository and the manifest
digest. It is stored as cosign stores it: an OCI image tagged ``sha256-<hex>.sig`` in
the image's repository, one layer per signature (media type
``application/vnd.dev.cosign.simplesigning.v1+json``, the payload as the blob, the
base64 ECDSA-P256/SHA-256 signature in the annotation ``dev.cosignproject.cosign/signature``).
So ``cosign verify --key cosign.pub`` reads what ``pybuild sign`` writes, and the other
way round. Keys are PEM (PKCS#8, optionally password-encrypted; cosign's own encrypted
key files are not read: ``cosign import-key-pair`` takes PEM keys).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybuild.errors import ConfigError, IntegrityError, PybuildError
from pybuild.oci.digest import Digest

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"


@dataclass(frozen=True)
class Verified:
    """A signature that checked out: its payload's identity and any optional claims."""

    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] | None


def generate_key_pair(private_path: Path, public_path: Path, password: bytes | None = None) -> None:
    """An ECDSA P-256 key pair as PEM files (the private one 0600, encrypted when a password is given)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} exists; not overwriting a key")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(pub)


def payload(docker_reference: str, manifest_digest: Digest, annotations: dict[str, str] | None = None) -> bytes:
    """cosign's simple-signing payload, compact as Go writes it."""
    doc = {"critical": {"identity": {"docker-reference": docker_reference},
                        "image": {"docker-manifest-digest": str(manifest_digest)},
                        "type": PAYLOAD_TYPE},
           "optional": annotations or None}
    return json.dumps(doc, separators=(",", ":")).encode()


def _load_private(path: Path, password: bytes | None) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read key {path}: {e.strerror}") from None
    if b"ENCRYPTED COSIGN PRIVATE KEY" in data:
        raise ConfigError(f"{path} is a cosign-encrypted key; use a PEM key (pybuild generate-key-pair)")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"cannot load private key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path} is not an ECDSA key")
    return key


def load_public(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as e:
        raise ConfigError(f"cannot read key {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"cannot load public key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"{path} is not an ECDSA public key")
    return key


def sign_bytes(data: bytes, key_path: Path, password: bytes | None = None) -> str:
    """The base64 ECDSA-SHA256 (DER) signature of ``data``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _load_private(key_path, password)
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def verify_bytes(data: bytes, signature_b64: str, key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key.verify(base64.b64decode(signature_b64, validate=True), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def signature_tag(manifest_digest: Digest) -> str:
    return f"{manifest_digest.algorithm}-{manifest_digest.hex}.sig"


def repository_and_digest(ref: str, options: Any) -> tuple[str, str, Digest]:
    """(registry/repository, the reference as typed, the manifest digest it names now)."""
    from pybuild.oci.reference import Reference
    from pybuild.oci.registry.transport import inspect

    info = inspect(ref, options)
    parsed = Reference.parse(ref)
    return parsed.name, ref, Digest(str(info["digest"]))


def sign(ref: str, key_path: Path, *, password: bytes | None = None, annotations: dict[str, str] | None = None,
         options: Any = None) -> Digest:
    """Sign the image ``ref`` (a registry reference) names now; returns the signed digest."""
    from pybuild.oci import spec

    repo, _, digest = repository_and_digest(ref, options)
    body = payload(repo, digest, annotations)
    signature = sign_bytes(body, key_path, password)
    tag = signature_tag(digest)
    layers = tag_layers(repo, tag, SIMPLE_SIGNING, options)
    pdigest = Digest.of_bytes(body)
    if not any(d.digest == pdigest and (d.annotations or {}).get(SIGNATURE_ANNOTATION) == signature for d in layers):
        layers.append(spec.Descriptor(SIMPLE_SIGNING, pdigest, len(body), annotations={SIGNATURE_ANNOTATION: signature}))
    push_layers(repo, tag, layers, {pdigest: body}, options)
    return digest


def push_layers(repo: str, tag: str, layers: list[Any], new: dict[Digest, bytes], options: Any) -> None:
    """Push the image cosign keeps beside an image (``repo:tag``): ``layers`` (the blobs of
    ``new`` given, the others fetched from the tag as it is), a config naming them."""
    from pybuild.oci import spec
    from pybuild.oci.layout import Layout
    from pybuild.oci.transport import copy

    work = Path(tempfile.mkdtemp(prefix="pybuild-sign-"))
    try:
        layout = Layout.create(work / "sig")
        for data in new.values():
            layout.put_bytes(data)
        for d in layers:  # earlier entries' blobs, so the layout is whole
            if not layout.has_blob(d.digest):
                layout.put_bytes(fetch_tag_blob(repo, tag, d, options, 64 << 20))  # (an envelope holds an SBOM)
        config = spec.ImageConfig(architecture="", os="", rootfs_diff_ids=[d.digest for d in layers])
        config_bytes = config.to_json()
        cdigest, csize = layout.put_bytes(config_bytes)
        manifest = spec.Manifest(spec.Descriptor(spec.OCI_CONFIG, cdigest, csize), layers)
        mdigest, msize = layout.put_bytes(manifest.to_json())
        layout.set_ref("sig", spec.Descriptor(spec.OCI_MANIFEST, mdigest, msize))
        copy(f"oci:{work / 'sig'}:sig", f"docker://{repo}:{tag}", destination_options=_opts(options))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _opts(options: Any) -> dict[str, Any]:
    return {"options": options} if options is not None else {}


def tag_layers(repo: str, tag: str, media_type: str, options: Any) -> list[Any]:
    """The layers of ``media_type`` in the image ``repo:tag`` (none when the tag is absent)."""
    from pybuild.errors import RegistryNotFound
    from pybuild.oci import spec
    from pybuild.oci.registry.transport import open_source

    try:
        with open_source(f"{repo}:{tag}", options) as src:
            raw, manifest_type = src.get_manifest()
    except RegistryNotFound:
        return []
    doc = spec.parse_manifest(raw, manifest_type)
    if not isinstance(doc, spec.Manifest):
        raise IntegrityError(f"{repo}:{tag} is not a signature image")
    return [d for d in doc.layers if d.media_type == media_type]


def fetch_tag_blob(repo: str, tag: str, desc: Any, options: Any, limit: int | None = None) -> bytes:
    from pybuild.oci import spec
    from pybuild.oci.digest import VerifyingReader
    from pybuild.oci.registry.transport import open_source

    if desc.size > (limit or spec.MAX_DOCUMENT_SIZE):
        raise IntegrityError(f"{repo}:{tag}: blob {desc.digest} is too large ({desc.size} bytes)")
    with open_source(f"{repo}:{tag}", options) as src:
        raw = src.get_blob(desc)
        try:
            return VerifyingReader(raw, desc.digest, desc.size).read()
        finally:
            raw.close()


def verify(ref: str, public_key: Path, *, options: Any = None) -> list[Verified]:
    """The signatures of the image ``ref`` names that ``public_key`` verifies; raises
    IntegrityError when there is none."""
    key = load_public(public_key)
    repo, _, digest = repository_and_digest(ref, options)
    try:
        layers = tag_layers(repo, signature_tag(digest), SIMPLE_SIGNING, options)
    except PybuildError as e:
        raise IntegrityError(f"cannot read the signatures of {ref}: {e.message}") from None
    good: list[Verified] = []
    for desc in layers:
        sig = (desc.annotations or {}).get(SIGNATURE_ANNOTATION, "")
        body = fetch_tag_blob(repo, signature_tag(digest), desc, options)
        if not sig or not verify_bytes(body, sig, key):
            continue
        try:
            doc = json.loads(body)
            critical = doc["critical"]
            signed_digest = critical["image"]["docker-manifest-digest"]
            identity = critical["identity"]["docker-reference"]
        except (ValueError, KeyError, TypeError):
            continue
        if signed_digest != str(digest) or critical.get("type") != PAYLOAD_TYPE:
            continue
        good.append(Verified(identity, signed_digest, doc.get("optional")))
    if not good:
        raise IntegrityError(f"no signature of {ref} ({digest}) verifies with {public_key}")
    return good


__all__ = ["generate_key_pair", "payload", "sign", "verify", "sign_bytes", "verify_bytes", "Verified",
           "signature_tag", "SIMPLE_SIGNING", "SIGNATURE_ANNOTATION"]
