"""Compiled seccomp filters kept between builds: the same program as a compile, and nothing
torn, foreign or in an untrusted directory is ever installed from it."""

from __future__ import annotations

import ctypes.util
import os
from pathlib import Path
from typing import Any

import pytest

from pybuild.builder.sandbox import seccomp, seccomp_cache
from pybuild.builder.sandbox.caps import DEFAULT_CAPABILITIES

pytestmark = pytest.mark.skipif(not ctypes.util.find_library("seccomp"), reason="libseccomp2 is not installed")

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                 {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of this test's own, and no program memoised in this process."""
    directory = tmp_path / "seccomp"
    monkeypatch.setattr(seccomp_cache, "ROOT_DIR", str(directory))
    monkeypatch.setattr("pybuild.rootless.is_rootless", lambda: False)
    monkeypatch.setattr(seccomp, "_COMPILED", {})
    return directory


def compiled(caps: list[str]) -> bytes:
    seccomp._COMPILED.clear()  # as a new build process would
    return seccomp.compile_filter(seccomp.resolve(PROFILE, caps)).bpf


def fresh(caps: list[str]) -> bytes:
    """What libseccomp compiles for the document, with no cache involved."""
    import json

    doc = json.dumps(seccomp.resolve(PROFILE, caps), sort_keys=True)
    return seccomp._compile(seccomp._libseccomp(), doc)


def test_a_later_build_gets_the_program_a_compile_gives_from_the_cache(cache: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = compiled(list(DEFAULT_CAPABILITIES))
    assert first == fresh(list(DEFAULT_CAPABILITIES))
    assert len(os.listdir(cache)) == 1 and (cache.stat().st_mode & 0o777) == 0o700

    def no_compile(*_: object) -> bytes:
        raise AssertionError("compiled again")

    monkeypatch.setattr(seccomp, "_compile", no_compile)
    assert compiled(list(DEFAULT_CAPABILITIES)) == first


def test_each_capability_set_has_its_own_program(cache: Path) -> None:
    plain = compiled(list(DEFAULT_CAPABILITIES))
    admin = compiled([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])
    assert plain != admin and admin == fresh([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"])
    assert compiled(list(DEFAULT_CAPABILITIES)) == plain
    assert len(os.listdir(cache)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_torn_or_altered_file_is_compiled_again(cache: Path, damage: str) -> None:
    good = compiled(list(DEFAULT_CAPABILITIES))
    (entry,) = cache.iterdir()
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[:-9], "flip": bytes([data[0] ^ 1]) + data[1:], "empty": b""}[damage])
    assert compiled(list(DEFAULT_CAPABILITIES)) == good
    assert entry.read_bytes() == data  # and kept right again


def test_a_program_planted_where_others_may_write_is_not_installed(cache: Path) -> None:
    import hashlib
    import json
    import platform

    doc = json.dumps(seccomp.resolve(PROFILE, list(DEFAULT_CAPABILITIES)), sort_keys=True)
    version = seccomp._version(seccomp._libseccomp())
    assert version is not None
    key = seccomp_cache.key_of(doc, version, platform.machine())
    allow_all = bytes.fromhex("0600000000ff7f00")  # BPF_RET ALLOW: one instruction
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    (cache / key).write_bytes(allow_all + hashlib.sha256(key.encode() + allow_all).digest())
    assert compiled(list(DEFAULT_CAPABILITIES)) == fresh(list(DEFAULT_CAPABILITIES))
