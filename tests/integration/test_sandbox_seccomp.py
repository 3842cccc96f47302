"""Seccomp in a real sandbox (chroot and runc): the default profile, unconfined, a custom file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from sandbox_helpers import Collector, prepare_stubs

from pybuild.builder.sandbox import DEFAULT_CAPABILITIES, RunSpec, run
from pybuild.builder.sandbox.seccomp import find_default_profile

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture
def applets(rootfs: Path) -> Path:
    """The busybox rootfs with the applets these tests add."""
    for applet in ("swapoff", "rmdir"):
        os.symlink("busybox", rootfs / "bin" / applet)
    return rootfs


@pytest.fixture
def default_profile() -> str:
    path = find_default_profile()
    if path is None:
        pytest.skip("no default seccomp profile (apt-get install golang-github-containers-common)")
    return path


def sh(rootfs: Path, script: str, isolation: str, **kw: object) -> tuple[int, str]:
    out = Collector()
    spec = RunSpec(rootfs=str(rootfs), argv=["/bin/sh", "-c", script], env=["PATH=/bin"], output=out,
                   **kw)  # type: ignore[arg-type]
    prepare_stubs(rootfs, spec)
    return run(spec, isolation), out.text


def status_field(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(\d+)$", text, re.M)
    assert m, text
    return m.group(1)


def test_default_profile_filters_every_step(rootfs: Path, isolation: str, default_profile: str) -> None:
    status, text = sh(rootfs, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", isolation)
    assert status == 0, text
    assert status_field(text, "Seccomp") == "2"  # as buildah's steps show
    assert status_field(text, "NoNewPrivs") == "0"


def test_unconfined_has_no_filter(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "grep '^Seccomp:' /proc/self/status", isolation, seccomp="unconfined")
    assert status == 0, text
    assert status_field(text, "Seccomp") == "0"


def test_default_profile_denies_swapoff(rootfs: Path, applets: Path, isolation: str, default_profile: str) -> None:
    # swapoff(2) is on the profile's deny list (EPERM); with CAP_SYS_ADMIN the kernel itself
    # would get as far as looking the path up (ENOENT): the difference is the filter's
    caps = [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]
    status, text = sh(rootfs, "swapoff /nonexistent", isolation, capabilities=caps)
    assert status != 0
    assert "Operation not permitted" in text, text
    status, text = sh(rootfs, "swapoff /nonexistent", isolation, capabilities=caps, seccomp="unconfined")
    assert status != 0
    assert "No such file or directory" in text, text


def test_custom_profile_file_is_honoured(rootfs: Path, applets: Path, tmp_path: Path, isolation: str) -> None:
    (rootfs / "victim").mkdir()
    profile = tmp_path / "deny-rmdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},  # EACCES
            # an entry for a capability the step lacks is left out, as podman resolves it
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30,
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ]}))
    status, text = sh(rootfs, "grep '^Seccomp:' /proc/self/status; mkdir /made && echo made; rmdir /victim",
                      isolation, seccomp=str(profile))
    assert status != 0
    assert status_field(text, "Seccomp") == "2"
    assert "made" in text  # mkdir was only denied for CAP_SYS_ADMIN
    assert "Permission denied" in text, text  # errnoRet 13 from the file
    assert (rootfs / "victim").is_dir()


def test_no_new_privileges_with_the_filter(rootfs: Path, isolation: str, default_profile: str) -> None:
    status, text = sh(rootfs, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", isolation,
                      no_new_privileges=True, uid=1000, gid=1000)
    assert status == 0, text
    assert status_field(text, "NoNewPrivs") == "1"
    assert status_field(text, "Seccomp") == "2"
