"""Signatures without a registry: the payload bytes cosign expects, keys, sign/verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybuild.errors import ConfigError
from pybuild.oci.digest import Digest
from pybuild.oci.sign import generate_key_pair, load_public, payload, sign_bytes, signature_tag, verify_bytes

DIGEST = Digest("sha256:" + "ab" * 32)


def test_payload_is_cosigns_simple_signing_document() -> None:
    body = payload("registry.example/team/app", DIGEST)
    assert body == (b'{"critical":{"identity":{"docker-reference":"registry.example/team/app"},'
                    b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
                    b'"type":"cosign container image signature"},"optional":null}')
    assert json.loads(payload("r/a", DIGEST, {"k": "v"}))["optional"] == {"k": "v"}
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_sign_verify_and_tampering(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "k.key", tmp_path / "k.pub", password=b"secret")
    body = payload("r/a", DIGEST)
    sig = sign_bytes(body, tmp_path / "k.key", b"secret")
    key = load_public(tmp_path / "k.pub")
    assert verify_bytes(body, sig, key)
    assert not verify_bytes(body.replace(b"ab", b"cd", 1), sig, key)
    assert not verify_bytes(body, "not base64!", key)
    with pytest.raises(ConfigError, match="cannot load private key"):
        sign_bytes(body, tmp_path / "k.key", b"wrong")


def test_keys_that_cannot_be_used(tmp_path: Path) -> None:
    (tmp_path / "cosign.key").write_text("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\nxx\n"
                                         "-----END ENCRYPTED COSIGN PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="cosign-encrypted"):
        sign_bytes(b"x", tmp_path / "cosign.key")
    generate_key_pair(tmp_path / "a.key", tmp_path / "a.pub")
    with pytest.raises(ConfigError, match="not overwriting"):
        generate_key_pair(tmp_path / "a.key", tmp_path / "b.pub")
