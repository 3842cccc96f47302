"""Store.image_size and pybuild.format_inspect: the SIZE column of `pybuild images` and
`inspect --format`, as a library caller gets them."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import pybuild


def _tarball(path: Path, size: int) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("data")
        info.size = size
        tar.addfile(info, io.BytesIO(b"x" * size))
    return path


def test_image_size_is_the_uncompressed_layers(tmp_path: Path) -> None:
    store = pybuild.Store(tmp_path / "root", storage_driver="vfs")
    small = pybuild.import_tarball(_tarball(tmp_path / "s.tar", 10), "localhost/small", store=store)
    big = pybuild.import_tarball(_tarball(tmp_path / "b.tar", 100_000), "localhost/big", store=store)
    assert store.image_size(small) < store.image_size(big)
    assert 100_000 < store.image_size(big) < 100_000 + 4096  # the tar's bytes: header, data, padding
    assert store.image_size(store.image("localhost/big")) == store.image_size(big)


def test_format_inspect_reads_buildahs_fields(tmp_path: Path) -> None:
    store = pybuild.Store(tmp_path / "root", storage_driver="vfs")
    image = pybuild.import_tarball(_tarball(tmp_path / "s.tar", 1), "localhost/small", store=store,
                                   changes=["ENV A=1", "CMD [\"/bin/app\"]"])
    info = pybuild.inspect("localhost/small", store=store)
    assert pybuild.format_inspect(info, "{{.FromImageID}}") == image.id
    assert pybuild.format_inspect(info, "{{.OCIv1.Config.Cmd}}") == "[/bin/app]"
    with pytest.raises(pybuild.PybuildError):
        pybuild.format_inspect(info, "{{.NoSuchField")
