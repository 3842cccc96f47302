"""Manifest lists in the store (no registry): records, instances from another transport,
what gc keeps, and the errors a user meets."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_fixtures import make_image, write_oci_layout

from pybuild.builder import manifest_list
from pybuild.builder.garbage import collect
from pybuild.builder.store import Store
from pybuild.errors import ImageNotFound, UserError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "root")


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout"
    write_oci_layout(path, {"a": make_image("a", arch="amd64"), "b": make_image("b", arch="arm64", layers=2),
                            "multi": [("amd64", make_image("ma", arch="amd64")),
                                      ("arm64", make_image("mb", arch="arm64"))]})
    return path


def test_add_from_a_layout_records_platforms_and_pushes_every_blob(store: Store, layout: Path,
                                                                   tmp_path: Path) -> None:
    manifest_list.create(store, "ml")
    manifest_list.add(store, "ml", f"oci:{layout}:a")
    manifest_list.add(store, "ml", f"oci:{layout}:b", variant="v8")
    added = manifest_list.add(store, "ml", f"oci:{layout}:multi", all_platforms=True)
    assert len(added) == 2
    lst = manifest_list.get(store, "localhost/ml:latest")
    plats = [str(d.platform) for d in lst.index.manifests]
    assert plats == ["linux/amd64", "linux/arm64/v8", "linux/amd64", "linux/arm64"]
    # layers were not copied in: push reads them from the layout
    digest = manifest_list.push(store, "ml", f"oci:{tmp_path}/out:ml")
    assert digest == lst.digest
    from pybuild.oci.layout import Layout

    pushed = Layout.open(tmp_path / "out")
    assert pushed.resolve("ml").digest == lst.digest
    for child in lst.index.manifests:
        assert pushed.has_blob(child.digest)


def test_gc_keeps_what_a_list_references(store: Store, layout: Path) -> None:
    manifest_list.create(store, "ml")
    manifest_list.add(store, "ml", f"oci:{layout}:b")
    lst = manifest_list.get(store, "ml")
    keep = {d for d in manifest_list.referenced(store) if store.layout.has_blob(d)}
    assert len(keep) == 3  # index, instance manifest, its config (layers stay in the layout until push)
    collect(store)
    for d in keep:
        assert store.layout.has_blob(d), d
    assert manifest_list.get(store, "ml").raw == lst.raw
    manifest_list.delete(store, "ml")
    collect(store)
    assert not store.layout.has_blob(lst.digest)


def test_remove_replace_and_errors(store: Store, layout: Path) -> None:
    manifest_list.create(store, "ml")
    [d] = manifest_list.add(store, "ml", f"oci:{layout}:a")
    manifest_list.add(store, "ml", f"oci:{layout}:a", arch="arm", variant="v7")  # same digest: replaced
    [entry] = manifest_list.get(store, "ml").index.manifests
    assert str(entry.platform) == "linux/arm/v7"
    with pytest.raises(UserError, match="already exists"):
        manifest_list.create(store, "ml")
    assert manifest_list.create(store, "ml", amend=True).name == "localhost/ml:latest"
    manifest_list.remove(store, "ml", str(d))
    assert manifest_list.get(store, "ml").index.manifests == []
    with pytest.raises(UserError, match="empty"):
        manifest_list.push(store, "ml", "oci:/nonexistent:x")
    with pytest.raises(ImageNotFound):
        manifest_list.get(store, "nosuch")
    with pytest.raises(ImageNotFound):
        manifest_list.remove(store, "ml", str(d))
