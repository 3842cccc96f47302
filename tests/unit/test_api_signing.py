"""pybuild.generate_key_pair / sign / verify / attest / verify_attestation: what the cosign
verbs print, as a library caller gets it. The round trip needs docker-registry on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_fixtures import Registry, make_image, write_oci_layout

import pybuild


def test_generate_key_pair_writes_both_pems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYPW", "secret")
    private, public = pybuild.generate_key_pair(tmp_path / "k", password_env="KEYPW")
    assert (private, public) == (tmp_path / "k.key", tmp_path / "k.pub")
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_bad_input_is_one_line_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(pybuild.ConfigError, match="--password-env NOPE: the variable is not set"):
        pybuild.generate_key_pair(tmp_path / "k", password_env="NOPE")
    assert not (tmp_path / "k.key").exists()
    with pytest.raises(pybuild.ConfigError, match=r"invalid --annotation '=v' \(use KEY=VALUE\)"):
        pybuild.sign("127.0.0.1:1/a:1", tmp_path / "k.key", annotations=["=v"])
    with pytest.raises(pybuild.ConfigError, match="--password-env NOPE"):
        pybuild.attest("127.0.0.1:1/a:1", tmp_path / "k.key", tmp_path / "p", password_env="NOPE")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("needs docker-registry (Debian's package)")
    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.mark.integration
def test_sign_verify_attest_round_trip(tmp_path: Path, registry: Registry) -> None:
    layout = tmp_path / "layout"
    write_oci_layout(layout, {"a": make_image("a")})
    image = f"docker://{registry.host}/team/app:1"
    digest = pybuild.copy(f"oci:{layout}:a", image)
    private, public = pybuild.generate_key_pair(tmp_path / "cosign", password="pw")
    assert pybuild.sign(image, private, annotations={"by": "test"}, password="pw") == digest
    found = pybuild.verify(f"{registry.host}/team/app:1", public)
    assert found == [{"critical": {"identity": {"docker-reference": f"{registry.host}/team/app"},
                                   "image": {"docker-manifest-digest": str(digest)},
                                   "type": "cosign container image signature"},
                      "optional": {"by": "test"}}]
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"checked": True}))
    assert pybuild.attest(image, private, predicate, "custom", password="pw") == digest
    statements = pybuild.verify_attestation(image, public, "custom")
    assert [json.loads(s["predicate"]["Data"]) for s in statements] == [{"checked": True}]  # cosign's custom
    assert statements[0]["subject"][0]["digest"] == {"sha256": digest.hex}
    other = pybuild.generate_key_pair(tmp_path / "other")[1]
    with pytest.raises(pybuild.IntegrityError):
        pybuild.verify(image, other)
