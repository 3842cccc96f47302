"""containers-common seccomp profiles resolved as podman does, compiled by libseccomp; --security-opt values."""

from __future__ import annotations

import ctypes.util
import json
from pathlib import Path
from typing import Any

import pytest

from pybuild.builder.sandbox.caps import DEFAULT_CAPABILITIES
from pybuild.builder.sandbox.seccomp import compile_filter, find_default_profile, load_profile, resolve
from pybuild.builder.sandbox.security import SecurityOptions, parse_security_opts
from pybuild.errors import ConfigError

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
    ]}


def rules_for(spec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in spec["syscalls"] if name in r["names"]]


def test_resolve_for_amd64_and_the_default_capabilities() -> None:
    spec = resolve(PROFILE, list(DEFAULT_CAPABILITIES), arch="amd64")
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO" and spec["defaultErrnoRet"] == 38
    assert spec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert [r["action"] for r in rules_for(spec, "arch_prctl")] == ["SCMP_ACT_ALLOW"]
    assert rules_for(spec, "bpf") == [{"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    assert rules_for(spec, "personality")[0]["args"] == [{"index": 0, "value": 8, "valueTwo": 0,
                                                          "op": "SCMP_CMP_EQ"}]
    assert rules_for(spec, "s390_runtime_instr") == []


def test_resolve_follows_capabilities_and_architecture() -> None:
    spec = resolve(PROFILE, [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], arch="arm64")
    assert spec["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert [r["action"] for r in rules_for(spec, "bpf")] == ["SCMP_ACT_ALLOW"]
    assert rules_for(spec, "arch_prctl") == []
    assert len(rules_for(spec, "s390_runtime_instr")) == 1


def test_the_distributions_default_profile_resolves() -> None:
    path = find_default_profile()
    if path is None:
        pytest.skip("no default seccomp profile (apt-get install golang-github-containers-common)")
    spec = resolve(load_profile(path), list(DEFAULT_CAPABILITIES), arch="amd64")
    allowed = {n for r in spec["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
               for n in r["names"]}
    assert {"read", "execve", "chroot", "arch_prctl"} <= allowed  # CAP_SYS_CHROOT is a default cap
    assert not {"swapoff", "bpf", "kexec_load"} & allowed


@pytest.mark.skipif(not ctypes.util.find_library("seccomp"), reason="libseccomp2 is not installed")
def test_compiled_filter_is_bpf_and_follows_the_document() -> None:
    a = compile_filter(resolve(PROFILE, list(DEFAULT_CAPABILITIES)))
    b = compile_filter(resolve(PROFILE, [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]))
    assert a.bpf and len(a.bpf) % 8 == 0
    assert a.bpf != b.bpf  # bpf allowed in one, denied in the other


@pytest.mark.parametrize("values, expected", [
    ([], SecurityOptions()),
    (["seccomp=unconfined"], SecurityOptions(seccomp="unconfined")),
    (["seccomp:unconfined", "no-new-privileges"], SecurityOptions(seccomp="unconfined", no_new_privileges=True)),
    (["no-new-privileges=true", "no-new-privileges=false"], SecurityOptions()),
    (["apparmor=unconfined", "label=disable"], SecurityOptions()),
])
def test_accepted_security_opts(values: list[str], expected: SecurityOptions) -> None:
    assert parse_security_opts(values) == expected
    assert parse_security_opts(expected.as_opts()) == expected  # what a working container keeps


def test_a_profile_file_is_read_and_named_by_its_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(PROFILE))
    monkeypatch.chdir(tmp_path)
    opts = parse_security_opts(["seccomp=p.json"])
    assert opts.seccomp == str(f) and opts.as_opts() == [f"seccomp={f}"]  # relative to where it was given
    key = opts.cache_key()
    assert key is not None and str(tmp_path) not in json.dumps(key)
    assert SecurityOptions().cache_key() is None


@pytest.mark.parametrize("value, needle", [
    ("bogus", "use name=value"),
    ("mask=/proc", "is not supported"),
    ("apparmor=docker-default", "only apparmor=unconfined"),
    ("label=type:spc_t", "only label=disable"),
    ("no-new-privileges=maybe", "true or false"),
    ("seccomp=/nonexistent/profile.json", "cannot read the seccomp profile"),
])
def test_refused_security_opts_say_so_in_one_line(value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_security_opts([value])
    assert needle in str(e.value) and "--security-opt" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not JSON"),
    ('["a"]', "not a JSON object"),
    ('{"defaultAction": "SCMP_ACT_NOTIFY", "syscalls": []}', "is not supported"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",'
     ' "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}', "index 9"),
])
def test_bad_profile_files_are_refused(tmp_path: Path, content: str, needle: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(ConfigError) as e:
        parse_security_opts([f"seccomp={f}"])
    assert needle in str(e.value) and str(f) in str(e.value)
    assert "\n" not in str(e.value)
