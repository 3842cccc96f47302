"""bud's step resources seen from inside RUN, under both isolations: rlimits in
/proc/self/limits, the step's own cgroup files at /sys/fs/cgroup, /dev/shm's size, a host
device node, the cgroup namespace; and a memory limit that really stops a step."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, images, pyb

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _cgroup_v1() -> bool:
    return not os.path.exists("/sys/fs/cgroup/cgroup.controllers") and os.path.isdir("/sys/fs/cgroup/memory")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root, _ = build_busybox(tmp_path_factory.mktemp("resources"))
    yield root


def _build(store: Path, tmp: Path, script: str, *flags: str, check: bool = True) -> tuple[Path, object]:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(f"FROM busybox\nRUN {script}\n")
    out = tmp / "out"
    proc = pyb(store, "bud", "--no-cache", "-o", f"type=local,dest={out}", *flags, str(ctx), check=check)
    return out, proc


def _limits(text: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in text.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        rows[name] = (soft, hard)
    return rows


def test_limits_are_what_run_sees(store: Path, tmp_path: Path, isolation: str) -> None:
    if not _cgroup_v1():
        pytest.skip("the file names checked here are cgroup v1's (this host's); v2's are tested in tests/unit")
    script = ("cat /proc/self/limits > /limits"
              " && cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
              "    /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
              "    /sys/fs/cgroup/cpuset/cpuset.cpus > /cgroup"
              " && df -k /dev/shm | tail -1 > /shm"
              " && ls -l /dev/xnull > /device && echo into-the-device > /dev/xnull"
              " && (echo x > /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null && echo writable || echo ro) > /ro")
    out, _ = _build(store, tmp_path, script, "--isolation", isolation, "--ulimit", "nofile=512:1024",
                    "--ulimit", "nproc=300", "-m", "64m", "--memory-swap", "128m", "-c", "512",
                    "--cpu-quota", "50000", "--cpu-period", "100000", "--cpuset-cpus", "0", "--shm-size", "10m",
                    "--device", "/dev/null:/dev/xnull")
    limits = _limits((out / "limits").read_text())
    assert limits["Max open files"] == ("512", "1024")
    assert limits["Max processes"] == ("300", "300")
    assert (out / "cgroup").read_text().split() == [str(64 << 20), str(128 << 20), "512", "50000", "100000", "0"]
    assert (out / "shm").read_text().split()[1] == "10240"  # 1K-blocks: 10 MiB
    assert (out / "device").read_text().startswith("crw") and "1,   3" in (out / "device").read_text()
    assert (out / "ro").read_text() == "ro\n"  # the step sees its limits, it cannot raise them
    assert not (out / "dev" / "xnull").exists()  # the device was the step's, not the image's


def test_defaults_leave_the_step_as_it_was(store: Path, tmp_path: Path, isolation: str) -> None:
    out, _ = _build(store, tmp_path, "df -k /dev/shm | tail -1 > /shm && cat /proc/self/limits > /limits",
                    "--isolation", isolation)
    assert (out / "shm").read_text().split()[1] == "65536"  # buildah's 65536k
    own = _limits(Path("/proc/self/limits").read_text())
    assert _limits((out / "limits").read_text())["Max open files"] == own["Max open files"]


def test_a_memory_limit_stops_a_step_that_exceeds_it(store: Path, tmp_path: Path, isolation: str) -> None:
    script = "dd if=/dev/zero of=/dev/null bs=100M count=1 && echo survived > /ok"
    _, proc = _build(store, tmp_path, script, "--isolation", isolation, "-m", "32m", "--memory-swap", "32m",
                     check=False)
    assert proc.returncode != 0  # type: ignore[attr-defined]
    assert "exit status 137" in proc.stderr  # type: ignore[attr-defined]
    out, _ = _build(store, tmp_path, script, "--isolation", isolation)  # the same step, unlimited
    assert (out / "ok").read_text() == "survived\n"


def test_cgroupns_private_roots_the_step_at_its_cgroup(store: Path, tmp_path: Path, isolation: str) -> None:
    if not _cgroup_v1():
        pytest.skip("checks v1's memory line of /proc/self/cgroup")
    out, _ = _build(store, tmp_path, "grep :memory: /proc/self/cgroup > /private", "--isolation", isolation,
                    "-m", "64m", "--cgroupns", "private")
    assert (out / "private").read_text().strip().endswith(":memory:/")
    out, _ = _build(store, tmp_path, "grep :memory: /proc/self/cgroup > /host", "--isolation", isolation,
                    "-m", "64m", "--cgroupns", "host")
    assert "/pybuild-" in (out / "host").read_text()


def test_the_step_cgroup_is_removed_afterwards(store: Path, tmp_path: Path) -> None:
    if not _cgroup_v1():
        pytest.skip("looks in v1's memory hierarchy")
    own = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
               if ":memory:" in line)
    parent = Path("/sys/fs/cgroup/memory") / own.lstrip("/")
    before = {p.name for p in parent.iterdir() if p.name.startswith("pybuild-")}
    dead = parent / "pybuild-999999999-0123456789ab"  # what a build killed mid-step leaves (no such pid)
    dead.mkdir()
    _build(store, tmp_path, "true", "--isolation", "chroot", "-m", "64m")
    assert not dead.exists()  # swept by the next step cgroup made beside it
    assert {p.name for p in parent.iterdir() if p.name.startswith("pybuild-")} <= before


def test_a_hard_limit_above_the_hosts_is_one_line_before_the_build(store: Path, tmp_path: Path) -> None:
    import resource

    status = Path("/proc/self/status").read_text()
    eff = int(next(ln for ln in status.splitlines() if ln.startswith("CapEff:")).split()[1], 16)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if eff >> 24 & 1 or hard == resource.RLIM_INFINITY:
        pytest.skip("this host lets pybuild raise its hard limits (CAP_SYS_RESOURCE)")
    _, proc = _build(store, tmp_path, "echo ran > /ran", "--ulimit", f"nofile={hard + 1}", check=False)
    assert proc.returncode == 125  # type: ignore[attr-defined]
    assert proc.stderr.strip().splitlines() == [  # type: ignore[attr-defined]
        f"Error: --ulimit nofile: a hard limit of {hard + 1} is above this host's ({hard}); raising it needs "
        "CAP_SYS_RESOURCE, which pybuild does not have here"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "line"), [
    (("-m", "lots"), "Error: --memory lots: invalid size (use <number>[<unit>], unit b, k, m or g)"),
    (("-m", "1m"), "Error: --memory 1m: the minimum memory limit is 6m (as runc's)"),
    (("--memory-swap", "1g"), "Error: --memory-swap needs --memory as well (swap is counted on top of it)"),
    (("-m", "1g", "--memory-swap", "512m"),
     "Error: --memory-swap 512m: it counts memory plus swap, so it must be at least --memory"),
    (("--ulimit", "nofiles=1"), "Error: --ulimit nofiles=1: use NAME=SOFT[:HARD] with NAME one of core, cpu, "
                                "data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
                                "sigpending, stack"),
    (("--ulimit", "nofile=20:10"), "Error: --ulimit nofile=20:10: the soft limit is above the hard limit"),
    (("--cpu-period", "10"), "Error: --cpu-period 10: between 1000 and 1000000 microseconds"),
    (("--cpuset-cpus", "zero"), "Error: --cpuset-cpus zero: a list such as 0-3 or 0,1"),
    (("--device", "/etc/passwd:/dev/pw"), "Error: --device /etc/passwd:/dev/pw: /etc/passwd is not a device node"),
    (("--device", "/dev/null:/etc/null"),
     "Error: --device /dev/null:/etc/null: the host path must be absolute and the container path below /dev/"),
    (("--cgroupns", "shared"), "Error: --cgroupns shared: 'private' or 'host'"),
    (("--cgroup-parent", "../up"),
     "Error: --cgroup-parent ../up: an absolute cgroup path such as /builds (the cgroupfs manager's spelling)"),
    (("--shm-size", "-1"), "Error: --shm-size -1: invalid size (use <number>[<unit>], unit b, k, m or g)"),
])
def test_resource_mistakes_are_one_line_before_anything_runs(tmp_path: Path, flags: tuple[str, ...],
                                                             line: str) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM scratch\nRUN true\n")
    store = tmp_path / "store"
    proc = pyb(store, "bud", *flags, str(ctx), check=False)
    assert proc.returncode == 125 and proc.stderr.strip().splitlines() == [line], proc.stderr
    assert not store.exists() or images(store) == []


def test_from_keeps_the_limits_for_each_run_and_run_takes_cgroupns(store: Path, isolation: str) -> None:
    cid = pyb(store, "from", "--isolation", isolation, "--ulimit", "nofile=100:200", "-m", "50m",
              "--shm-size", "2m", "busybox").stdout.strip().splitlines()[-1]
    try:
        limits = pyb(store, "run", cid, "--", "cat", "/proc/self/limits").stdout
        assert _limits(limits)["Max open files"] == ("100", "200")
        shm = pyb(store, "run", cid, "--", "sh", "-c", "df -k /dev/shm | tail -1").stdout
        assert shm.split()[1] == "2048"
        if _cgroup_v1():
            assert pyb(store, "run", cid, "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").stdout == \
                f"{50 << 20}\n"
            private = pyb(store, "run", "--cgroupns", "private", cid, "--", "grep", ":memory:", "/proc/self/cgroup")
            assert private.stdout.strip().endswith(":memory:/")
    finally:
        pyb(store, "rm", cid)


def test_from_refuses_a_bad_limit_before_making_a_container(store: Path) -> None:
    before = pyb(store, "containers", "-q").stdout
    proc = pyb(store, "from", "--ulimit", "nofile=2:1", "busybox", check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip().splitlines() == ["Error: --ulimit nofile=2:1: the soft limit is above the hard limit"]
    assert pyb(store, "containers", "-q").stdout == before


def test_the_library_build_takes_the_same_resources(store: Path, tmp_path: Path) -> None:
    import pybuild

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN grep 'open files' /proc/self/limits > /limits "
                                       "&& df -k /dev/shm | tail -1 > /shm\n")
    image = pybuild.build(ctx, store=store, no_cache=True, isolation="chroot", tags=["lib-limits"],
                          resources={"ulimits": ["nofile=77:88"], "shm_size": "3m"})
    cid = pyb(store, "from", image.id).stdout.strip().splitlines()[-1]
    try:
        assert pyb(store, "run", cid, "--", "cat", "/limits").stdout.split()[3:5] == ["77", "88"]
        assert pyb(store, "run", cid, "--", "cat", "/shm").stdout.split()[1] == "3072"
    finally:
        pyb(store, "rm", cid)


def test_cgroup_parent_places_an_oci_step_below_it(store: Path, tmp_path: Path) -> None:
    import secrets

    from tests.conftest import need_tool

    need_tool("runc")
    parent = f"/pybuild-test-{secrets.token_hex(4)}"
    try:
        out, _ = _build(store, tmp_path, "cat /proc/self/cgroup > /cgroup", "--isolation", "oci",
                        "--cgroup-parent", parent)
        lines = [ln for ln in (out / "cgroup").read_text().splitlines() if ln.split(":")[1] in ("memory", "pids")]
        assert lines and all(f":{parent}/pybuild-" in ln for ln in lines), lines
    finally:  # runc removes the step's cgroup; the parent stays, as podman's does
        for d in Path("/sys/fs/cgroup").glob(f"*{parent}"):
            d.rmdir()
    _, proc = _build(store, tmp_path, "true", "--isolation", "chroot", "--cgroup-parent", parent, check=False)
    assert proc.returncode == 125 and proc.stderr.strip().splitlines() == [  # type: ignore[attr-defined]
        f"Error: --cgroup-parent {parent}: only with --isolation oci (runc places the step there; chroot "
        "isolation makes its cgroup below pybuild's own)"]
