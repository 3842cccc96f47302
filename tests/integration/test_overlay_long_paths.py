"""An overlay of many layers under a long store path: the mount options must fit in one
page, so the lowers are named through short links (found by building a 30-step
Containerfile in a store under a long directory: the options were cut mid-path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.sandbox.overlay import mount_overlay, unmount


@pytest.mark.root
def test_sixty_lowers_under_a_long_path_all_show(tmp_path: Path) -> None:
    base = tmp_path / ("long-" + "x" * 150)
    lowers = []
    for i in range(60):
        d = base / "layers" / f"{i:064x}" / "diff"
        d.mkdir(parents=True)
        (d / f"f{i}").write_text(str(i))
        lowers.append(str(d))
    for name in ("upper", "work", "merged"):
        (base / name).mkdir()
    mount_overlay(list(reversed(lowers)), str(base / "upper"), str(base / "work"), str(base / "merged"),
                  short_dir=str(base / "l"))
    try:
        assert sorted(p.name for p in (base / "merged").iterdir()) == sorted(f"f{i}" for i in range(60))
        assert (base / "merged" / "f59").read_text() == "59"
    finally:
        unmount(str(base / "merged"))
