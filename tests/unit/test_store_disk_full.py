"""A full disk in the middle of a store write: one line naming what could not be written,
and nothing half-made left (a container's changes stay where they were)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pybuild.builder.store import Store
from pybuild.errors import StoreError


def test_adopting_a_layer_on_a_full_disk_keeps_the_containers_changes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "root")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "work").write_text("hours of it\n")

    real_mkstemp = tempfile.mkstemp

    def mkstemp(**kw: Any) -> tuple[int, str]:
        if "info.json" in kw.get("prefix", ""):  # the disk fills up just as the layer's record is written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(**kw)

    monkeypatch.setattr("pybuild.fsutil.tempfile.mkstemp", mkstemp)
    with pytest.raises(StoreError) as err:
        store.adopt_layer(upper, "sha256:" + "a" * 64, size=1, tar_options={})
    assert "No space left on device" in str(err.value) and "info.json" in str(err.value)
    assert "\n" not in str(err.value)
    assert (upper / "work").read_text() == "hours of it\n"
    assert list((store.root / "tmp").iterdir()) == []
    assert not store.has_layer("sha256:" + "a" * 64)
