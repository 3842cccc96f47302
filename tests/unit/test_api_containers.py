"""The working-container calls the `from`, `config`, `commit`, `containers`, `rm`, `rename` and
`prune` verbs make, as a library caller makes them (a vfs store: no root, no mounts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pybuild


@pytest.fixture
def store(tmp_path: Path) -> pybuild.Store:
    return pybuild.Store(tmp_path / "root", storage_driver="vfs")


@pytest.mark.parametrize("spelling", ["true", "false", "ifmissing", "IfNewer", "never", "always"])
def test_from_takes_buildahs_pull_spellings(store: pybuild.Store, spelling: str) -> None:
    assert store.from_image("scratch", pull=spelling).name == "working-container"


def test_from_refuses_a_bad_pull_and_bad_run_defaults_before_recording(store: pybuild.Store) -> None:
    with pytest.raises(pybuild.ConfigError, match="invalid --pull 'sometimes' \\(always, missing or never\\)"):
        store.from_image("scratch", pull="sometimes")
    with pytest.raises(pybuild.ConfigError):
        store.from_image("scratch", run_defaults={"volumes": ["nocolon"]})
    assert store.containers() == []


def test_from_writes_the_cidfile_and_describe_has_buildahs_keys(store: pybuild.Store, tmp_path: Path) -> None:
    ctr = store.from_image("scratch", name="box", cidfile=tmp_path / "cid")
    assert (tmp_path / "cid").read_text() == ctr.id
    d = ctr.describe()
    assert (d["id"], d["containername"], d["builder"], d["mounted"]) == (ctr.id, "box", True, False)
    assert [c.describe() for c in store.containers()] == [d]
    json.dumps(d)


def test_commit_format_reads_buildah_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUILDAH_FORMAT", raising=False)
    assert pybuild.commit_format(None) == "oci"
    assert pybuild.commit_format("V2S2") == "docker"
    monkeypatch.setenv("BUILDAH_FORMAT", "docker")
    assert pybuild.commit_format(None) == "docker" and pybuild.commit_format("oci") == "oci"
    with pytest.raises(pybuild.ConfigError, match="invalid --format 'tar' \\(oci or docker\\)"):
        pybuild.commit_format("tar")


def test_config_words_and_commit_options(store: pybuild.Store, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDAH_FORMAT", "docker")
    ctr = store.from_image("scratch")
    ctr.config(env=["A=1", "B=2"], labels=["l=v"], annotations={"a": "b"}, shell="/bin/bash -c",
               comment="why", variant="v8", healthcheck="CMD true", healthcheck_start_period="5s")
    ctr.config(env=["B-"])
    cfg = ctr.image_config["config"]
    assert "A=1" in cfg["Env"] and not any(e.startswith("B=") for e in cfg["Env"])
    assert cfg["Labels"] == {"l": "v"} and cfg["Shell"] == ["/bin/bash", "-c"]
    assert cfg["Healthcheck"]["StartPeriod"] == 5_000_000_000
    assert ctr.image_config["variant"] == "v8"
    image = ctr.commit("localhost/out", iidfile=tmp_path / "iid", unsetenv=["A"], rm=True)
    assert (tmp_path / "iid").read_text().removeprefix("sha256:") == image.id
    info = pybuild.inspect("localhost/out", store=store, type="image")
    assert info["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"  # $BUILDAH_FORMAT
    assert "Healthcheck" in info["Docker"]["config"]
    assert not any(e.startswith("A=") for e in info["Docker"]["config"]["Env"])
    assert info["Docker"]["history"][-1]["comment"] == "why"
    assert store.containers() == []


def test_rename_remove_and_prune_force(store: pybuild.Store) -> None:
    ctr = store.from_image("scratch")
    ctr.rename("other")
    assert store.container("other").id == ctr.id
    image = ctr.commit(None)  # a dangling image (no name)
    user = store.from_image(image.id)
    report = store.prune(force=True)
    assert image.id in report.images
    with pytest.raises(pybuild.ContainerNotFound):
        store.container(user.id)
    assert store.remove_dead_build_containers() == []
    store.container("other").remove()
    assert store.containers(all=True) == []
