"""--security-opt as a buildah user types it: bud, from and run; the default seccomp profile."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]

PROBE = "RUN grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not any(Path(p).is_file() for p in ("/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json")):
        pytest.skip("no default seccomp profile (apt-get install golang-github-containers-common)")
    return build_busybox(tmp_path_factory.mktemp("security-opt"))[0]


def field(text: str, name: str) -> str:
    found = re.findall(rf"^{name}:\s*(\d+)$", text, re.M)
    assert len(found) == 1, text
    return str(found[0])


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_bud_runs_steps_under_the_default_profile_and_unconfined(root: Path, tmp_path: Path,
                                                                isolation: str) -> None:
    if isolation == "oci" and not shutil.which("runc"):
        pytest.skip("runc is not installed (apt-get install runc)")
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nRUN echo {isolation}\n" + PROBE)
    out = pyb(root, "bud", "--isolation", isolation, str(tmp_path))
    assert field(out.stdout + out.stderr, "Seccomp") == "2"
    # the same steps again, unconfined: not taken from the cache of the confined build
    out = pyb(root, "bud", "--isolation", isolation, "--security-opt", "seccomp=unconfined",
              "--security-opt", "no-new-privileges", str(tmp_path))
    assert field(out.stdout + out.stderr, "Seccomp") == "0"
    assert field(out.stdout + out.stderr, "NoNewPrivs") == "1"


def test_a_syscall_the_default_profile_denies_fails_in_run(root: Path, tmp_path: Path) -> None:
    # swapoff(2) is on the profile's deny list (EPERM); with CAP_SYS_ADMIN the kernel alone
    # would look the path up and say ENOENT
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN swapoff /nonexistent\n")
    out = pyb(root, "bud", "--cap-add", "SYS_ADMIN", str(tmp_path), check=False)
    assert out.returncode != 0
    assert "swapoff: /nonexistent: Operation not permitted" in out.stdout + out.stderr
    out = pyb(root, "bud", "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", str(tmp_path),
              check=False)
    assert out.returncode != 0
    assert "swapoff: /nonexistent: No such file or directory" in out.stdout + out.stderr


def test_bud_takes_a_profile_file(root: Path, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN mkdir /denied\n")
    out = pyb(root, "bud", "--security-opt", f"seccomp={profile}", str(ctx), check=False)
    assert out.returncode != 0
    assert "Permission denied" in out.stdout + out.stderr


@pytest.mark.parametrize("value, needle", [
    ("seccomp=/nonexistent.json", "cannot read the seccomp profile"),
    ("apparmor=docker-default", "only apparmor=unconfined"),
    ("label=level:s0", "only label=disable"),
    ("bogus", "use name=value"),
])
def test_bad_values_are_one_line_before_any_step(root: Path, tmp_path: Path, value: str, needle: str) -> None:
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN touch /x\n")
    before = (root / "images.json").read_bytes()
    for verb in (["bud", "--security-opt", value, str(tmp_path)], ["from", "--security-opt", value, "busybox"]):
        proc = pyb(root, *verb, check=False)
        assert proc.returncode != 0
        [err] = proc.stderr.strip().splitlines()
        assert needle in err and "--security-opt" in err, err
        assert "STEP" not in proc.stdout + proc.stderr
    assert (root / "images.json").read_bytes() == before
    assert json.loads(pyb(root, "containers", "--json").stdout) == []


def test_from_and_run_take_security_opts(root: Path) -> None:
    ctr = pyb(root, "from", "--security-opt", "seccomp=unconfined", "busybox").stdout.strip()
    plain = pyb(root, "from", "busybox").stdout.strip()
    try:
        probe = ["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"]
        assert field(pyb(root, "run", ctr, "--", *probe).stdout, "Seccomp") == "0"
        out = pyb(root, "run", plain, "--", *probe).stdout
        assert field(out, "Seccomp") == "2" and field(out, "NoNewPrivs") == "0"
        out = pyb(root, "run", "--security-opt", "no-new-privileges", plain, "--", *probe).stdout
        assert field(out, "NoNewPrivs") == "1"
        proc = pyb(root, "run", "--security-opt", "seccomp=nope.json", plain, "--", "true", check=False)
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    finally:
        pyb(root, "rm", ctr, plain, check=False)


def test_the_library_takes_security_opts(root: Path, tmp_path: Path) -> None:
    import pybuild

    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN echo library\n" + PROBE)
    printed: list[str] = []

    def on_event(event: pybuild.Event) -> None:
        if event.kind == "output":
            printed.append(event.message)

    store = pybuild.Store(root)
    pybuild.build(tmp_path, store=store, security_opts=["seccomp=unconfined"], on_event=on_event)
    assert field("".join(printed), "Seccomp") == "0"
    with pytest.raises(pybuild.ConfigError, match="only label=disable"):
        pybuild.build(tmp_path, store=store, security_opts=["label=user:x"])
    ctr = store.from_image("busybox", security_opts=["no-new-privileges"])
    try:
        out: list[bytes] = []
        ctr.run(["grep", "^NoNewPrivs:", "/proc/self/status"], output=out.append)
        assert field(b"".join(out).decode(), "NoNewPrivs") == "1"
    finally:
        ctr.remove()
