"""Container paths made inside a root: through symlinks, as the container would see them."""

from __future__ import annotations

import os
from pathlib import Path

from pybuild.builder.paths import makedirs_in_root


def test_makedirs_through_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/var/lib/tempest", root / "tempest")
    host = makedirs_in_root(str(root), "/tempest/lower")
    assert host == str(root / "var" / "lib" / "tempest" / "lower")
    assert (root / "var" / "lib" / "tempest" / "lower").is_dir()
    assert os.path.islink(root / "tempest")
