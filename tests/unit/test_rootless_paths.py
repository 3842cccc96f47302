"""What a rootless pybuild reads and where it keeps things, without entering a namespace:
/etc/subuid lines, the id maps newuidmap is given, the runtime dir and podman's auth file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild import rootless
from pybuild.builder.sandbox import userns
from pybuild.errors import ConfigError


def test_subordinate_ranges_by_name_or_uid(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\nbob:165536:65536\n1001:300000:1000\nbroken line\nalice:x:1\n"
                      "alice:500000:0\n")
    assert userns.subordinate_ranges(str(subuid), 1001, "alice") == [
        userns.IdRange(100000, 65536), userns.IdRange(300000, 1000)]
    assert userns.subordinate_ranges(str(subuid), 1002, "carol") == []
    assert userns.subordinate_ranges(str(tmp_path / "absent"), 1001, "alice") == []


def test_the_maps_put_the_user_at_0_and_the_ranges_after_it() -> None:
    ranges = [userns.IdRange(100000, 65536), userns.IdRange(300000, 1000)]
    assert userns._map_args(1001, ranges) == ["0", "1001", "1", "1", "100000", "65536", "65537", "300000", "1000"]


def test_missing_ids_error_names_the_fix() -> None:
    assert str(userns.missing_ids_error("ci")) == ("rootless pybuild needs subordinate ids for user ci: "
                                                   "add ci:100000:65536 to /etc/subuid and /etc/subgid")


def test_nothing_to_enter_for_real_root_or_inside_a_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert userns.enter_user_namespace() is False


def test_runtime_dir_is_xdg_runtime_dir_when_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert rootless.runtime_dir() == str(tmp_path / "pybuild")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "absent"))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    assert rootless.runtime_dir() == str(tmp_path / f"pybuild-{rootless.host_uid()}")
    assert not (tmp_path / f"pybuild-{rootless.host_uid()}").exists()  # only named
    made = rootless.make_runtime_dir()
    assert os.stat(made).st_mode & 0o777 == 0o700


def test_a_runtime_dir_someone_else_made_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    target = tmp_path / f"pybuild-{rootless.host_uid()}"
    (tmp_path / "elsewhere").mkdir()
    target.symlink_to(tmp_path / "elsewhere")  # a planted link: pybuild's files would land there
    with pytest.raises(ConfigError, match="is not a directory of this user's"):
        rootless.make_runtime_dir()


def test_credentials_where_podman_keeps_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pybuild.oci.registry.credentials import primary_auth_file

    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert primary_auth_file() == str(tmp_path / "containers" / "auth.json")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert primary_auth_file() == f"/run/containers/{rootless.host_uid()}/auth.json"


def test_overlay_xattrs_follow_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "is_rootless", lambda: True)
    assert rootless.overlay_opaque_xattr() == "user.overlay.opaque"
    monkeypatch.setattr(rootless, "is_rootless", lambda: False)
    assert rootless.overlay_opaque_xattr() == "trusted.overlay.opaque"


def test_storage_opts_name_a_mount_program_or_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybuild.builder.storage_opts import mount_program

    monkeypatch.delenv("STORAGE_OPTS", raising=False)
    assert mount_program([]) is None
    assert mount_program(["overlay.mount_program=/bin/sh"]) == "/bin/sh"
    monkeypatch.setenv("STORAGE_OPTS", "overlay.mount_program=/bin/sh")
    assert mount_program([]) == "/bin/sh"  # podman's variable, when no flag is given
    with pytest.raises(ConfigError, match=r"^STORAGE_OPTS overlay.size=1G: pybuild knows only"):
        monkeypatch.setenv("STORAGE_OPTS", "overlay.size=1G")
        mount_program([])
    with pytest.raises(ConfigError, match="/no/such is not an executable file"):
        mount_program(["overlay.mount_program=/no/such"])
