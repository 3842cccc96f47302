"""link_groups: a lower layer's hard-link group placed whole in upper/ before a mount, taken
out again when nothing touched it, kept whole when something did, and never followed out
of upper/ through a symlink a step put there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild.builder import link_groups


def _layer(tmp: Path) -> Path:
    lower = tmp / "layers" / "l1" / "diff"
    (lower / "h" / "sub").mkdir(parents=True)
    (lower / "h" / "orig").write_text("data\n")
    os.link(lower / "h" / "orig", lower / "h" / "link1")
    os.link(lower / "h" / "orig", lower / "h" / "sub" / "link2")
    (lower / "h" / "single").write_text("one\n")
    return lower


def _files(upper: Path) -> list[str]:
    return sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))


def test_group_is_placed_whole_and_untouched_groups_leave_again(tmp_path: Path) -> None:
    lower, upper = _layer(tmp_path), tmp_path / "upper"
    upper.mkdir()
    records = link_groups.prepare(upper, [str(lower)])
    st = [os.lstat(upper / n) for n in ("h/orig", "h/link1", "h/sub/link2")]
    assert len({s.st_ino for s in st}) == 1 and st[0].st_nlink == 3
    assert os.lstat(upper / "h").st_mtime_ns == os.lstat(lower / "h").st_mtime_ns
    assert not (upper / "h" / "single").exists()
    assert (lower.parent / "links.json").exists()  # the groups are cached beside the layer
    link_groups.settle(upper, records)
    assert _files(upper) == []


def test_a_write_through_one_name_keeps_the_group(tmp_path: Path) -> None:
    lower, upper = _layer(tmp_path), tmp_path / "upper"
    upper.mkdir()
    records = link_groups.prepare(upper, [str(lower)])
    with open(upper / "h" / "link1", "a") as f:
        f.write("more\n")
    link_groups.settle(upper, records)
    assert (upper / "h" / "sub" / "link2").read_text() == "data\nmore\n"
    assert os.lstat(upper / "h" / "orig").st_nlink == 3


@pytest.mark.root  # a whiteout is a 0/0 character device: mknod needs root
def test_a_hidden_name_is_not_placed(tmp_path: Path) -> None:
    lower, upper = _layer(tmp_path), tmp_path / "upper"
    upper.mkdir()
    above = tmp_path / "layers" / "l2" / "diff"
    (above / "h" / "sub").mkdir(parents=True)
    os.mknod(above / "h" / "sub" / "link2", 0o020000, 0)  # a whiteout: link2 is deleted above
    records = link_groups.prepare(upper, [str(above), str(lower)])
    assert os.lstat(upper / "h" / "orig").st_nlink == 2 and not (upper / "h" / "sub").exists()
    link_groups.settle(upper, records)
    assert _files(upper) == []


def test_settle_never_follows_a_symlink_out_of_upper(tmp_path: Path) -> None:
    lower, upper = _layer(tmp_path), tmp_path / "upper"
    upper.mkdir()
    records = link_groups.prepare(upper, [str(lower)])
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in ("orig", "link1"):
        (victim / name).write_text("host file\n")
    for p in sorted((upper / "h").rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    (upper / "h").rmdir()
    (upper / "h").symlink_to(victim)  # what a step could leave: /h -> a host path
    link_groups.settle(upper, records)
    assert sorted(os.listdir(victim)) == ["link1", "orig"]
