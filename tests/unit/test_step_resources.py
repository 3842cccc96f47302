"""Step resources without root: what the runtime spec asks of runc, and what a chroot step's
cgroup gets written, on a cgroup v1 or v2 tree laid out in a temp dir (this host has one
version; the other is only here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.sandbox import cgroups
from pybuild.builder.sandbox.oci import bundle_config
from pybuild.builder.sandbox.resources import UNLIMITED, parse_resources
from pybuild.builder.sandbox.spec import RunSpec
from pybuild.errors import ConfigError


def _limits() -> object:
    return parse_resources(memory="64m", memory_swap="-1", cpu_shares=1024, cpu_period=100000, cpu_quota=50000,
                           cpuset_cpus="0-1", ulimits=["nofile=512:1024", "core=-1", "nofile=256"],
                           shm_size="1g", cgroupns="private")


def test_the_runtime_spec_carries_every_limit(tmp_path: Path) -> None:
    r = _limits()
    spec = RunSpec(rootfs=str(tmp_path), argv=["true"], env=[], resources=r)  # type: ignore[arg-type]
    config = bundle_config(spec, str(tmp_path), {})
    assert config["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256},
                                            {"type": "RLIMIT_CORE", "soft": UNLIMITED, "hard": UNLIMITED}]
    res = config["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": -1}
    assert res["cpu"] == {"shares": 1024, "period": 100000, "quota": 50000, "cpus": "0-1"}
    assert {"type": "cgroup"} in config["linux"]["namespaces"]
    shm = next(m for m in config["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={1 << 30}" in shm["options"]
    assert any(m["destination"] == "/sys/fs/cgroup" and "ro" in m["options"] for m in config["mounts"])


def test_no_limits_change_nothing_in_the_spec(tmp_path: Path) -> None:
    config = bundle_config(RunSpec(rootfs=str(tmp_path), argv=["true"], env=[]), str(tmp_path), {})
    assert "rlimits" not in config["process"]
    assert config["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert not any(m["destination"] == "/sys/fs/cgroup" for m in config["mounts"])
    assert parse_resources().cache_key() is None  # so the cache keys of earlier builds stay valid


def test_a_device_is_allowed_and_created(tmp_path: Path) -> None:
    r = parse_resources(devices=["/dev/null:/dev/xnull:rw"])
    config = bundle_config(RunSpec(rootfs=str(tmp_path), argv=["true"], env=[], resources=r), str(tmp_path), {})
    assert config["linux"]["devices"][0] | {"fileMode": 0} == {"path": "/dev/xnull", "type": "c", "major": 1,
                                                               "minor": 3, "fileMode": 0, "uid": 0, "gid": 0}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in \
        config["linux"]["resources"]["devices"]


def _tree(tmp: Path, v2: bool) -> tuple[Path, Path]:
    root = tmp / "cgroup"
    proc = tmp / "proc-self-cgroup"
    if v2:
        (root / "me").mkdir(parents=True)
        (root / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
        (root / "me" / "cgroup.subtree_control").write_text("memory\n")
        proc.write_text("0::/me\n")
    else:
        for c in ("memory", "cpu", "cpuset"):
            (root / c / "me").mkdir(parents=True)
        (root / "cpuset" / "me" / "cpuset.cpus").write_text("0-3\n")
        (root / "cpuset" / "me" / "cpuset.mems").write_text("0\n")
        proc.write_text("4:memory:/me\n3:cpuset:/me\n1:cpu,cpuacct:/me\n")
    return root, proc


def _made(d: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in Path(d).iterdir()}


def test_v1_cgroup_files_and_the_cpuset_copied_from_the_parent(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root, proc = _tree(tmp_path, v2=False)
    r = parse_resources(memory="64m", memory_swap="128m", cpu_shares=512, cpu_quota=50000, cpu_period=100000,
                        cpuset_mems="0")
    # (memory.memsw.limit_in_bytes exists on a real kernel with swap accounting: make it here)
    real_mkdir = cgroups.os.mkdir

    def mkdir(path: str, mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        if "/memory/" in path:
            Path(path, "memory.memsw.limit_in_bytes").write_text("")

    monkeypatch.setattr(cgroups.os, "mkdir", mkdir)
    cg = cgroups.create(r, root=str(root), proc_cgroup=str(proc))
    assert cg.version == 1 and set(cg.dirs) == {"memory", "cpu", "cpuset"}
    assert all(d.startswith(str(root / c / "me" / "pybuild-")) for c, d in cg.dirs.items())
    assert _made(cg.dirs["memory"]) == {"memory.limit_in_bytes": str(64 << 20),
                                        "memory.memsw.limit_in_bytes": str(128 << 20)}
    assert _made(cg.dirs["cpu"]) == {"cpu.shares": "512", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"}
    assert _made(cg.dirs["cpuset"]) == {"cpuset.cpus": "0-3", "cpuset.mems": "0"}
    assert cg.procs == [str(Path(d, "cgroup.procs")) for d in cg.dirs.values()]


def test_v2_cgroup_files_and_controllers_enabled(tmp_path: Path) -> None:
    root, proc = _tree(tmp_path, v2=True)
    r = parse_resources(memory="64m", memory_swap="96m", cpu_shares=1024, cpu_quota=25000, cpuset_cpus="1")
    cg = cgroups.create(r, root=str(root), proc_cgroup=str(proc))
    assert cg.version == 2 and list(cg.dirs) == [""]
    assert (root / "me" / "cgroup.subtree_control").read_text() == "+cpu +cpuset"  # memory was on already
    assert _made(cg.dirs[""]) == {"memory.max": str(64 << 20), "memory.swap.max": str(32 << 20),
                                  "cpu.weight": str(cgroups.cpu_weight(1024)), "cpu.max": "25000 100000",
                                  "cpuset.cpus": "1"}
    assert cgroups.cpu_weight(2) == 1 and cgroups.cpu_weight(262144) == 10000
    cgroups.remove(cg)  # (files in a plain directory: rmdir refuses, and remove gives up quietly)


def test_a_failed_cgroup_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, proc = _tree(tmp_path, v2=False)
    (root / "cpu").rename(root / "gone")
    removed: list[str] = []
    monkeypatch.setattr(cgroups.os, "rmdir", removed.append)  # cgroupfs removes a cgroup with its files
    with pytest.raises(Exception, match="the cpu controller is not mounted"):
        cgroups.create(parse_resources(memory="64m", cpu_shares=4), root=str(root), proc_cgroup=str(proc))
    made = [str(p) for p in (root / "memory" / "me").iterdir()]
    assert len(made) == 1 and removed == made


def test_ulimit_values_as_go_units_reads_them() -> None:
    r = parse_resources(ulimits=["nproc=unlimited", "stack=8192:16384"])
    assert [(u.name, u.soft, u.hard) for u in r.ulimits] == [("nproc", UNLIMITED, UNLIMITED),
                                                            ("stack", 8192, 16384)]
    with pytest.raises(ConfigError, match="whole numbers"):
        parse_resources(ulimits=["nofile=ten"])


def test_cgroup_parent_is_runcs_cgroups_path(tmp_path: Path) -> None:
    from pybuild.builder.sandbox.resources import check_isolation

    r = parse_resources(cgroup_parent="//builds//team/")
    config = bundle_config(RunSpec(rootfs=str(tmp_path), argv=["true"], env=[], resources=r), str(tmp_path), {})
    assert config["linux"]["cgroupsPath"].startswith("/builds/team/pybuild-")
    check_isolation(r, "oci")
    with pytest.raises(ConfigError, match="only with --isolation oci"):
        check_isolation(r, "chroot")
    assert r.cache_key() is None  # a host's cgroup layout is no input of the step
