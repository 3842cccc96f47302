"""pybuild.remote_spec / fetch_manifest / fetch_config / inspect_remote / list_tags / copy /
login / logout / stored_username, on OCI layouts and auth files: what `pybuild image ...`,
`login` and `logout` print, as a library caller gets it (no registry needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_fixtures import make_image, write_oci_layout

import pybuild


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout"
    write_oci_layout(path, {"a": make_image("a", arch="amd64"),
                            "multi": [("amd64", make_image("ma", arch="amd64")),
                                      ("arm64", make_image("mb", arch="arm64"))]})
    return path


def test_a_bare_reference_means_a_registry() -> None:
    assert pybuild.remote_spec("busybox") == "docker://busybox"
    assert pybuild.remote_spec("oci:/x:tag") == "oci:/x:tag"
    assert pybuild.remote_spec("docker://q/r") == "docker://q/r"


def test_inspect_remote_has_skopeos_fields_and_no_tags_off_registries(layout: Path) -> None:
    info = pybuild.inspect_remote(f"oci:{layout}:a")
    assert list(info) == ["Digest", "RepoTags", "Created", "DockerVersion", "Labels", "Architecture", "Os",
                          "Layers", "LayersData", "Env"]
    assert info["RepoTags"] == [] and info["Architecture"] == "amd64"
    assert info["Layers"] == [d["Digest"] for d in info["LayersData"]]
    assert "RepoTags" not in pybuild.inspect_remote(f"oci:{layout}:a", tags=False)


def test_an_index_gives_the_platform_asked_for(layout: Path) -> None:
    arm = pybuild.inspect_remote(f"oci:{layout}:multi", platform="linux/arm64", config=True)
    assert arm["architecture"] == "arm64"
    raw = pybuild.fetch_config(f"oci:{layout}:multi", platform="linux/arm64")
    assert json.loads(raw) == arm
    top = json.loads(pybuild.fetch_manifest(f"oci:{layout}:multi"))
    assert [m["platform"]["architecture"] for m in top["manifests"]] == ["amd64", "arm64"]


def test_list_tags_refuses_other_transports_and_tagged_names(layout: Path) -> None:
    with pytest.raises(pybuild.InvalidReference, match="list-tags reads registries only"):
        pybuild.list_tags(f"oci:{layout}")
    with pytest.raises(pybuild.InvalidReference, match="give a repository without a tag or digest"):
        pybuild.list_tags("127.0.0.1:1/repo:tag")


def test_copy_takes_the_v2s2_alias(layout: Path, tmp_path: Path) -> None:
    digest = pybuild.copy(f"oci:{layout}:a", f"oci:{tmp_path / 'out'}:a", format="v2s2")
    top = json.loads(pybuild.fetch_manifest(f"oci:{tmp_path / 'out'}:a"))
    assert top["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert str(digest) == pybuild.inspect_remote(f"oci:{tmp_path / 'out'}:a")["Digest"]


def test_logout_and_stored_username_read_the_auth_file(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"reg.example:5000": {"auth": "dXNlcjpwdw=="}}}))  # user:pw
    assert pybuild.stored_username("https://reg.example:5000/", authfile=str(auth)) == "user"
    with pytest.raises(pybuild.ConfigError, match="give a REGISTRY or --all"):
        pybuild.logout(authfile=str(auth))
    with pytest.raises(pybuild.ConfigError, match="give a REGISTRY or --all"):
        pybuild.logout("reg.example:5000", all=True, authfile=str(auth))
    with pytest.raises(pybuild.AuthError, match="other.example: not logged in"):
        pybuild.logout("other.example", authfile=str(auth))
    pybuild.logout("reg.example:5000", authfile=str(auth))
    with pytest.raises(pybuild.AuthError, match="not logged in"):
        pybuild.stored_username("reg.example:5000", authfile=str(auth))


def test_login_checks_before_it_writes(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    with pytest.raises(pybuild.ConfigError, match="a password is required"):
        pybuild.login("127.0.0.1:1", "user", "", authfile=str(auth))
    with pytest.raises(pybuild.RegistryError):
        pybuild.login("127.0.0.1:1", "user", "pw", authfile=str(auth))  # nothing listens: nothing written
    assert not auth.exists()
