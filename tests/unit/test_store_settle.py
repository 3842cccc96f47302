"""A build names its step configs and layers durably only in the image record, so it syncs
their directories once, there, rather than once per step (issue 19): a crash before the
record may lose a step's config or layer (its cache entry then reads as a miss), never the
image's. ``pybuild commit`` of a user's container still syncs its layer when adopted (the
container's state.json names it before any image does)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybuild.builder.store as store_module
import pybuild.oci.layout as layout_module
from pybuild.builder.sandbox.fake import FakeSandbox
from pybuild.builder.store import Store
from tests.build_helpers import engine_build, image_tree

TEXT = "FROM scratch\nENV A=1\nCOPY a.txt /a.txt\nRUN echo two > /two\nLABEL l=v\nCMD [\"x\"]\n"


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    """A context of one file, ``a.txt``."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "a.txt").write_text("a")
    return tmp_path / "ctx"


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch, store: Store) -> list[str]:
    """Each directory fsync (relative to the store) and each image record write, in order."""
    order: list[str] = []
    real_fsync_dir, real_write = store_module.fsync_dir, Store._write_records

    def fsync_dir(path: object) -> None:
        order.append(str(Path(str(path)).relative_to(store.root)))
        real_fsync_dir(path)  # type: ignore[arg-type]

    def write_records(self: Store, records: object) -> None:
        order.append("images.json")
        real_write(self, records)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "fsync_dir", fsync_dir)
    monkeypatch.setattr(layout_module, "fsync_dir", fsync_dir)
    monkeypatch.setattr(Store, "_write_records", write_records)
    return order


def test_a_build_syncs_the_blob_and_layer_directories_once_before_the_image_record(
        store: Store, ctx: Path, journal: list[str]) -> None:
    image, _ = engine_build(store, ctx, TEXT, FakeSandbox(), no_cache=True)
    assert journal.index("images.json") > journal.index("blobs/sha256")
    assert journal.index("images.json") > journal.index("layers")
    assert journal.count("blobs/sha256") == 1 and journal.count("layers") == 1  # not once per step
    assert image_tree(store, image)["a.txt"][-1] == b"a"  # the image reads back whole


def test_the_image_record_of_a_cached_rebuild_is_settled_too(store: Store, ctx: Path,
                                                              journal: list[str]) -> None:
    engine_build(store, ctx, TEXT, FakeSandbox())
    journal.clear()
    engine_build(store, ctx, TEXT + "LABEL m=w\n", FakeSandbox())  # every step a hit but the last
    assert journal.index("images.json") > journal.index("blobs/sha256")
    assert journal.index("images.json") > journal.index("layers")


def test_a_users_container_commit_syncs_its_layer_when_adopted(store: Store, ctx: Path,
                                                               journal: list[str]) -> None:
    from pybuild.builder.container import WorkingContainer

    wc = WorkingContainer.create(store, None, name="work")
    with wc.mounted() as root:
        (Path(root) / "f").write_text("f")
    wc.commit_layer()
    assert "layers" in journal and "images.json" not in journal  # synced before any image names it
