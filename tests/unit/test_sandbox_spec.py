"""Capabilities, mount points and the OCI bundle a RunSpec becomes (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild.builder.sandbox import (
    DEFAULT_CAPABILITIES,
    Mount,
    RunSpec,
    apply_cap_changes,
    default_isolation,
    stub_paths,
)
from pybuild.builder.sandbox.caps import mask
from pybuild.builder.sandbox.oci import bundle_config
from pybuild.builder.sandbox.spec import check_stubs, validate
from pybuild.errors import ConfigError, SandboxError


def test_default_capabilities_are_buildahs() -> None:
    assert len(DEFAULT_CAPABILITIES) == 11
    assert f"{mask(DEFAULT_CAPABILITIES):016x}" == "00000000800405fb"


def test_cap_add_and_drop() -> None:
    caps = apply_cap_changes(DEFAULT_CAPABILITIES, ["sys_admin", "CAP_NET_RAW"], ["chown", "CAP_KILL"])
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_RAW" in caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert caps == sorted(caps, key=lambda c: mask([c]))  # ordered by number


def test_cap_all() -> None:
    everything = apply_cap_changes(DEFAULT_CAPABILITIES, ["ALL"], ["SYS_ADMIN"])
    assert "CAP_SYS_MODULE" in everything and "CAP_SYS_ADMIN" not in everything
    assert apply_cap_changes(DEFAULT_CAPABILITIES, ["CHOWN"], ["all"]) == ["CAP_CHOWN"]
    with pytest.raises(ConfigError):
        apply_cap_changes([], ["ALL"], ["ALL"])


def test_unknown_capability() -> None:
    with pytest.raises(ConfigError, match="CAP_FLY"):
        apply_cap_changes(DEFAULT_CAPABILITIES, ["CAP_FLY"], [])


def test_stub_paths(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("x")
    spec = RunSpec(rootfs="/r", argv=["true"], env=[], mounts=[
        Mount(target="/run/secrets/s", source=str(f), type="bind"),
        Mount(target="/ctx/", source=str(tmp_path), type="bind"),
        Mount(target="/tmp/t", source=None, type="tmpfs"),
    ])
    stubs = stub_paths(spec)
    for base in [("/proc", True), ("/sys", True), ("/dev", True), ("/etc/hosts", False),
                 ("/etc/resolv.conf", False), ("/etc/hostname", False)]:
        assert base in stubs
    assert ("/run/secrets/s", False) in stubs
    assert ("/ctx", True) in stubs
    assert ("/tmp/t", True) in stubs


def test_check_stubs_names_the_missing_one(tmp_path: Path) -> None:
    spec = RunSpec(rootfs=str(tmp_path), argv=["true"], env=[])
    for p, is_dir in stub_paths(spec):
        host = tmp_path / p.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.mkdir() if is_dir else host.touch()
    check_stubs(spec, str(tmp_path))
    (tmp_path / "etc" / "hostname").unlink()
    with pytest.raises(SandboxError, match="/etc/hostname"):
        check_stubs(spec, str(tmp_path))
    (tmp_path / "etc" / "hostname").mkdir()
    with pytest.raises(SandboxError, match="/etc/hostname is not a file"):
        check_stubs(spec, str(tmp_path))


@pytest.mark.parametrize("mount, message", [
    (Mount(target="relative", source=None, type="tmpfs"), "not an absolute"),
    (Mount(target="/a/../b", source=None, type="tmpfs"), "'..'"),
    (Mount(target="/t", source=None, type="tmpfs", options={"size": "1m,exec"}), "not allowed"),
    (Mount(target="/t", source=None, type="tmpfs", options={"exec": "1"}), "not allowed"),
    (Mount(target="/t", source=None, type="bind"), "needs a source"),
    (Mount(target="/t", source="/x", type="overlay"), "not supported"),
])
def test_validate_refuses_bad_mounts(mount: Mount, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        validate(RunSpec(rootfs="/r", argv=["true"], env=[], mounts=[mount]))


def test_validate_refuses_symlink_bind_source(tmp_path: Path) -> None:
    os.symlink("/etc", tmp_path / "l")
    with pytest.raises(SandboxError, match="symbolic link"):
        validate(RunSpec(rootfs="/r", argv=["true"], env=[], mounts=[Mount("/m", str(tmp_path / "l"), "bind")]))


def test_validate_other_fields() -> None:
    with pytest.raises(SandboxError, match="empty command"):
        validate(RunSpec(rootfs="/r", argv=[], env=[]))
    with pytest.raises(SandboxError, match="network"):
        validate(RunSpec(rootfs="/r", argv=["true"], env=[], network="bridge"))


def test_bundle_config_root_and_user() -> None:
    spec = RunSpec(rootfs="/r", argv=["sh", "-c", "x"], env=["A=1"], cwd="/w", network="none",
                   mounts=[Mount("/c", "/src", "bind"), Mount("/t", None, "tmpfs", False, {"size": "1m"})])
    cfg = bundle_config(spec, "/r", {"/etc/hosts": "/tmp/h"})
    assert cfg["root"] == {"path": "/r", "readonly": False}
    p = cfg["process"]
    assert p["args"] == ["sh", "-c", "x"] and p["env"] == ["A=1"] and p["cwd"] == "/w"
    assert p["terminal"] is False and p["capabilities"]["inheritable"] == []
    assert set(p["capabilities"]["effective"]) <= set(DEFAULT_CAPABILITIES)
    assert {"type": "network"} in cfg["linux"]["namespaces"]
    dests = {m["destination"]: m for m in cfg["mounts"]}
    assert dests["/c"]["options"] == ["rbind", "ro"]
    assert "size=1m" in dests["/t"]["options"] and "rw" in dests["/t"]["options"]
    assert dests["/etc/hosts"]["source"] == "/tmp/h"
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]
    user = bundle_config(RunSpec(rootfs="/r", argv=["id"], env=[], uid=5, gid=6, additional_gids=[6, 7]),
                         "/r", {})
    assert user["process"]["user"] == {"uid": 5, "gid": 6, "additionalGids": [6, 7]}
    assert user["process"]["capabilities"]["effective"] == []
    assert user["process"]["capabilities"]["bounding"]
    assert not [n for n in user["linux"]["namespaces"] if n["type"] == "network"]


def test_default_isolation_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYBUILD_ISOLATION", raising=False)
    assert default_isolation() == "chroot"  # runc's confinement without runc (sandbox/chroot.py)
    from pybuild.builder.sandbox.resources import parse_resources

    assert default_isolation(parse_resources(cgroup_parent="/ci")) == "oci"  # only runc places it there
    monkeypatch.setenv("PYBUILD_ISOLATION", "chroot")
    assert default_isolation() == "chroot"
    monkeypatch.setenv("PYBUILD_ISOLATION", "oci")
    assert default_isolation() == "oci"
    monkeypatch.setenv("PYBUILD_ISOLATION", "vm")
    with pytest.raises(ConfigError):
        default_isolation()
