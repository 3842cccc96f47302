"""pybuild.manifest_*: the manifest lists `pybuild manifest ...` makes, as a library caller
sees them (no registry: instances from OCI layouts, pushed to a layout)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_fixtures import make_image, write_oci_layout

import pybuild


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout"
    write_oci_layout(path, {"a": make_image("a", arch="amd64"), "b": make_image("b", arch="arm64"),
                            "multi": [("amd64", make_image("ma", arch="amd64")),
                                      ("arm64", make_image("mb", arch="arm64"))]})
    return path


@pytest.fixture
def store(tmp_path: Path) -> pybuild.Store:
    return pybuild.Store(tmp_path / "root", storage_driver="vfs")


def test_create_add_inspect_and_push(store: pybuild.Store, layout: Path, tmp_path: Path) -> None:
    first = pybuild.manifest_create("ml", [f"oci:{layout}:a"], store=store)
    digest, added = pybuild.manifest_add("ml", f"oci:{layout}:b", store=store, variant="v8",
                                         annotations=["team=x"])
    assert digest != first and len(added) == 1
    index = pybuild.manifest_inspect("ml", store=store)
    assert [m["platform"].get("variant") for m in index["manifests"]] == [None, "v8"]
    assert index["manifests"][1]["annotations"] == {"team": "x"}
    assert pybuild.manifest_exists("ml", store=store) and not pybuild.manifest_exists("nope", store=store)
    pushed = pybuild.manifest_push("ml", f"oci:{tmp_path / 'out'}:ml", store=store, format="v2s2")
    top = json.loads(pybuild.fetch_manifest(f"oci:{tmp_path / 'out'}:ml"))
    assert top["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert str(pushed) == "sha256:" + __import__("hashlib").sha256(
        pybuild.fetch_manifest(f"oci:{tmp_path / 'out'}:ml")).hexdigest()


def test_an_index_adds_every_platform_and_remove_annotate_delete(store: pybuild.Store, layout: Path) -> None:
    pybuild.manifest_create("ml", store=store)
    _, added = pybuild.manifest_add("ml", f"oci:{layout}:multi", store=store, all_platforms=True)
    assert len(added) == 2
    pybuild.manifest_annotate("ml", str(added[0]), store=store, os_features=["f1"], annotations={"k": "v"})
    entry = pybuild.manifest_inspect("ml", store=store)["manifests"][0]
    assert entry["platform"]["os.features"] == ["f1"] and entry["annotations"] == {"k": "v"}
    pybuild.manifest_remove("ml", str(added[0]), store=store)
    assert [m["digest"] for m in pybuild.manifest_inspect("ml", store=store)["manifests"]] == [str(added[1])]
    assert pybuild.manifest_delete("ml", store=store)
    assert not pybuild.manifest_exists("ml", store=store)


def test_bad_input_is_one_line(store: pybuild.Store, layout: Path) -> None:
    pybuild.manifest_create("ml", store=store)
    with pytest.raises(pybuild.ConfigError, match=r"invalid --annotation 'novalue' \(use KEY=VALUE\)"):
        pybuild.manifest_add("ml", f"oci:{layout}:a", store=store, annotations=["novalue"])
    with pytest.raises(pybuild.ImageNotFound):
        pybuild.manifest_inspect("nosuchlist", store=store)
