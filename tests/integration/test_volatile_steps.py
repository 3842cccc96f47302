"""A build's layers are written out to disk before they count, though its containers are volatile.

Under a volatile overlay (test_overlay_volatile.py) neither the unmount nor an fsync inside a
step syncs the store's filesystem, so the commit syncs it once, before the upper directory
becomes a layer: no layer is adopted, and no cache entry or image names one, whose files
could still be only in memory. A filesystem that cannot write them out fails the build in
one line.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import pybuild.builder.sandbox.linux as linux
from pybuild.builder.store import Store
from pybuild.errors import StoreError
from tests.build_helpers import build, image_tree
from tests.integration.bud_helpers import context, make_store

pytestmark = pytest.mark.root

STEPS = "FROM busybox\nCOPY a.txt /a.txt\nRUN echo b > /b.txt; sync /b.txt\n"


def test_each_layer_is_synced_before_it_is_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_store(tmp_path).root
    ctx = context(tmp_path, STEPS, {"a.txt": "a\n"})
    store = Store(root)
    order: list[str] = []
    real_syncfs, real_adopt = linux.syncfs, Store.adopt_layer

    def syncfs(path: str) -> None:
        order.append("sync")
        real_syncfs(path)

    def adopt(self: Store, *a: object, **k: object) -> Path:
        order.append("adopt")
        return real_adopt(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(linux, "syncfs", syncfs)
    monkeypatch.setattr(Store, "adopt_layer", adopt)
    image, _ = build(store, ctx, no_cache=True)
    assert order == ["sync", "adopt", "sync", "adopt"]  # COPY's layer, then RUN's
    files = image_tree(store, image)
    assert files["a.txt"][-1] == b"a\n" and files["b.txt"][-1] == b"b\n"


def test_a_layer_the_disk_cannot_write_out_fails_the_build_and_is_not_adopted(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_store(tmp_path).root
    ctx = context(tmp_path, "FROM busybox\nRUN echo x > /x\n")
    store = Store(root)
    layers_before = set((root / "layers").iterdir())

    def syncfs(path: str) -> None:
        raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(linux, "syncfs", syncfs)
    with pytest.raises(StoreError, match="cannot write the layer out to disk: Input/output error"):
        build(store, ctx, no_cache=True)
    assert set((root / "layers").iterdir()) == layers_before
