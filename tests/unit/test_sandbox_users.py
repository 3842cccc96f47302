"""USER resolution from the image's /etc/passwd and /etc/group, read as data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild.builder.sandbox import resolve_user
from pybuild.errors import UserError

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line without fields
app:x:1000:1000:App User:/home/app:/bin/sh
nohome:x:1001:100::
"""
GROUP = """\
root:x:0:
daemon:x:1:
users:x:100:app
app:x:1000:
wheel:x:10:root,app
docker:x:999:someone, app
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return tmp_path


def test_name(rootfs: Path) -> None:
    assert resolve_user(str(rootfs), "app") == (1000, 1000, [1000, 100, 10, 999], "/home/app")


def test_root_and_empty_spec(rootfs: Path) -> None:
    assert resolve_user(str(rootfs), "root") == (0, 0, [0, 10], "/root")
    assert resolve_user(str(rootfs), "") == (0, 0, [0, 10], "/root")


def test_numeric_uid_in_passwd(rootfs: Path) -> None:
    assert resolve_user(str(rootfs), "1000") == (1000, 1000, [1000, 100, 10, 999], "/home/app")


def test_numeric_uid_not_in_passwd_runs_with_gid_0(rootfs: Path) -> None:
    assert resolve_user(str(rootfs), "4242") == (4242, 0, [0], "/")


def test_explicit_group_by_name_and_number_is_the_only_group(rootfs: Path) -> None:
    # BuildKit's testUser and buildah 1.28 alike: `USER app:wheel` runs with groups "10" only,
    # not app's memberships from /etc/group (tests/difftest/113-bk-user checks it end to end)
    assert resolve_user(str(rootfs), "app:wheel") == (1000, 10, [10], "/home/app")
    assert resolve_user(str(rootfs), "app:1000") == (1000, 1000, [1000], "/home/app")
    assert resolve_user(str(rootfs), "4242:4343") == (4242, 4343, [4343], "/")
    assert resolve_user(str(rootfs), "nohome:users") == (1001, 100, [100], "/")


def test_unknown_user_is_an_error(rootfs: Path) -> None:
    with pytest.raises(UserError, match="unknown user 'ghost'"):
        resolve_user(str(rootfs), "ghost")


def test_unknown_group_is_an_error(rootfs: Path) -> None:
    with pytest.raises(UserError, match="unknown group 'ghosts'"):
        resolve_user(str(rootfs), "app:ghosts")


def test_no_passwd_file(tmp_path: Path) -> None:
    assert resolve_user(str(tmp_path), "0") == (0, 0, [0], "/")
    assert resolve_user(str(tmp_path), "123:45") == (123, 45, [45], "/")
    with pytest.raises(UserError):
        resolve_user(str(tmp_path), "app")


def test_absolute_symlink_resolves_inside_rootfs(tmp_path: Path) -> None:
    """/etc/passwd -> /elsewhere/passwd names the rootfs's file, never the host's."""
    outside = tmp_path / "host"
    (outside / "elsewhere").mkdir(parents=True)
    (outside / "elsewhere" / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "elsewhere").mkdir()
    (rootfs / "elsewhere" / "passwd").write_text("good:x:7:8::/home/good:/bin/sh\n")
    os.symlink(str(outside / "elsewhere" / "passwd"), rootfs / "etc" / "passwd")  # host path: absent inside
    with pytest.raises(UserError):
        resolve_user(str(rootfs), "evil")
    (rootfs / "etc" / "passwd").unlink()
    os.symlink("/elsewhere/passwd", rootfs / "etc" / "passwd")
    assert resolve_user(str(rootfs), "good")[:2] == (7, 8)


def test_relative_symlink_cannot_climb_out(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")  # beside the rootfs, on the host
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("../../../passwd", rootfs / "etc" / "passwd")
    with pytest.raises(UserError, match="unknown user"):
        resolve_user(str(rootfs), "evil")


def test_fifo_passwd_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc" / "passwd")
    with pytest.raises(UserError):
        resolve_user(str(tmp_path), "app")  # returns promptly: a FIFO is not opened for reading
