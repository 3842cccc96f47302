"""RUN steps in a real sandbox (chroot and runc), over a busybox rootfs."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import Collector, make_rootfs, need_tool, prepare_stubs, snapshot

from pybuild.builder.sandbox import DEFAULT_CAPABILITIES, Mount, RunSpec, apply_cap_changes, run
from pybuild.errors import SandboxError

pytestmark = [pytest.mark.root, pytest.mark.integration]

DEFAULT_CAPS_HEX = "00000000800405fb"  # buildah's 11 default capabilities


def sh(rootfs: Path, script: str, isolation: str, **kw: Any) -> tuple[int, str]:
    out = Collector()
    spec = RunSpec(rootfs=str(rootfs), argv=["/bin/sh", "-c", script], env=["PATH=/bin"], output=out, **kw)
    prepare_stubs(rootfs, spec)
    status = run(spec, isolation)
    return status, out.text


def caps_of(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(Cap\w+):\s*([0-9a-f]+)$", text, re.M))


def test_output_and_exit_status(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "echo hello; echo oops >&2; exit 3", isolation)
    assert status == 3
    assert "hello\n" in text and "oops\n" in text


def test_env_and_cwd(rootfs: Path, isolation: str) -> None:
    (rootfs / "work").mkdir()
    status, text = sh(rootfs, "echo $GREETING; pwd", isolation, cwd="/work")
    assert status == 0
    assert text.split() == ["/work"]  # GREETING is not set: env is exactly the spec's
    out = Collector()
    spec = RunSpec(rootfs=str(rootfs), argv=["sh", "-c", "echo $GREETING; pwd"],
                   env=["PATH=/bin", "GREETING=hi there"], cwd="/work", output=out)
    prepare_stubs(rootfs, spec)
    assert run(spec, isolation) == 0
    assert out.text.splitlines() == ["hi there", "/work"]


def test_user_and_groups(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "id; grep -E '^Cap(Eff|Bnd)' /proc/self/status", isolation,
                      uid=1000, gid=1001, additional_gids=[1001, 20])
    assert status == 0
    assert "uid=1000 gid=1001 groups=20,1001" in text
    caps = caps_of(text)
    assert caps["CapEff"] == "0000000000000000"  # a non-root user holds no capability
    assert caps["CapBnd"] == DEFAULT_CAPS_HEX


def test_default_capabilities(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "grep Cap /proc/self/status", isolation)
    assert status == 0
    caps = caps_of(text)
    assert caps["CapBnd"] == DEFAULT_CAPS_HEX
    assert caps["CapEff"] == DEFAULT_CAPS_HEX
    assert caps["CapPrm"] == DEFAULT_CAPS_HEX
    assert caps["CapInh"] == "0000000000000000"
    assert caps["CapAmb"] == "0000000000000000"


def test_cap_add_sys_admin(rootfs: Path, isolation: str) -> None:
    wanted = apply_cap_changes(DEFAULT_CAPABILITIES, ["SYS_ADMIN"], [])
    status, text = sh(rootfs, "grep Cap /proc/self/status", isolation, capabilities=wanted)
    assert status == 0
    expected = f"{int(DEFAULT_CAPS_HEX, 16) | 1 << 21:016x}"
    assert caps_of(text)["CapEff"] == expected
    assert caps_of(text)["CapBnd"] == expected


def test_cap_drop_all(rootfs: Path, isolation: str) -> None:
    probe = "grep Cap /proc/self/status; chroot / true; echo chroot=$?"
    status, text = sh(rootfs, probe, isolation)
    assert status == 0 and "chroot=0" in text, text  # the probe works with the default capabilities
    wanted = apply_cap_changes(DEFAULT_CAPABILITIES, [], ["ALL"])
    status, text = sh(rootfs, probe, isolation, capabilities=wanted)
    assert status == 0, text
    caps = caps_of(text)
    assert {k: caps[k] for k in ("CapBnd", "CapEff", "CapPrm")} == dict.fromkeys(("CapBnd", "CapEff", "CapPrm"),
                                                                             "0000000000000000")
    assert "chroot=0" not in text and "chroot=" in text  # without CAP_SYS_CHROOT, chroot(2) is refused
    assert "Operation not permitted" in text, text


def test_no_new_privileges(rootfs: Path, isolation: str) -> None:
    _, text = sh(rootfs, "grep NoNewPrivs /proc/self/status", isolation)
    assert re.search(r"NoNewPrivs:\s*0", text)
    _, text = sh(rootfs, "grep NoNewPrivs /proc/self/status", isolation, no_new_privileges=True)
    assert re.search(r"NoNewPrivs:\s*1", text)


def test_no_descriptor_leaks(rootfs: Path, isolation: str) -> None:
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_r, True)  # even an inheritable descriptor of pybuild must not cross
    try:
        status, text = sh(rootfs, "ls /proc/self/fd", isolation)
    finally:
        os.close(leak_r)
        os.close(leak_w)
    assert status == 0
    assert text.split() == ["0", "1", "2", "3"]  # 3 is the directory ls itself opened


def test_stdin_is_dev_null(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "cat; echo done", isolation)  # cat would block on an open stdin
    assert status == 0
    assert text == "done\n"


def test_etc_files_are_per_step(rootfs: Path, isolation: str) -> None:
    with open("/etc/hosts", "rb") as f:
        host_hosts = f.read()
    status, text = sh(rootfs, "cat /etc/hosts /etc/resolv.conf /etc/hostname; echo 6.6.6.6 evil >> /etc/hosts; "
                              "echo 6.6.6.6 >> /etc/resolv.conf", isolation,
                      hosts="127.0.0.1 localhost\n10.1.2.3 extra\n", resolv_conf="nameserver 10.0.0.53\n",
                      hostname="stepbox")
    assert status == 0
    assert text.splitlines() == ["127.0.0.1 localhost", "10.1.2.3 extra", "nameserver 10.0.0.53", "stepbox"]
    with open("/etc/hosts", "rb") as f:
        assert f.read() == host_hosts
    assert (rootfs / "etc" / "hosts").read_bytes() == b""
    assert (rootfs / "etc" / "resolv.conf").read_bytes() == b""


def test_hostname(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "hostname", isolation, hostname="builder-1")
    assert status == 0 and text.strip() == "builder-1"
    assert os.uname().nodename != "builder-1"


def test_host_pids_invisible(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "echo $$; ls /proc", isolation)
    assert status == 0
    lines = text.split()
    assert lines[0] == "1"  # the step is PID 1 of its own namespace
    pids = [x for x in lines[1:] if x.isdigit()]
    assert len(pids) <= 4
    assert str(os.getpid()) not in pids or os.getpid() < 5


def test_network_none(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "cat /proc/net/dev", isolation, network="none")
    assert status == 0
    interfaces = [line.split(":")[0].strip() for line in text.splitlines()[2:]]
    assert interfaces == ["lo"]
    status, text = sh(rootfs, "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags", isolation,
                      network="none")
    assert int(text.split()[-1], 16) & 1  # IFF_UP


def test_network_host(rootfs: Path, isolation: str) -> None:
    with open("/proc/net/dev") as f:
        host_ifaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    status, text = sh(rootfs, "cat /proc/net/dev", isolation)
    assert status == 0
    assert sorted(line.split(":")[0].strip() for line in text.splitlines()[2:]) == host_ifaces


def test_rootfs_untouched_and_no_mount_left(rootfs: Path, isolation: str) -> None:
    spec = RunSpec(rootfs=str(rootfs), argv=["true"], env=["PATH=/bin"],
                   mounts=[Mount(target="/cache", source=None, type="tmpfs", readonly=False)])
    prepare_stubs(rootfs, spec)
    before = snapshot(rootfs)
    time.sleep(0.01)  # so that any write would show in an mtime
    status, _ = sh(rootfs, "echo x > /dev/shm/f; echo y > /cache/f; ls / >/dev/null", isolation,
                   mounts=spec.mounts)
    assert status == 0
    assert snapshot(rootfs) == before
    with open("/proc/self/mountinfo") as f:
        assert str(rootfs) not in f.read()


def test_cannot_climb_out_of_root(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "ls /; echo --; ls /..; echo --; cd /../../..; ls; echo --; ls /proc/1/root/",
                      isolation)
    assert status == 0
    parts = text.split("--")
    assert parts[0].split() == parts[1].split() == parts[2].split() == parts[3].split()
    assert "bin" in parts[0].split()
    assert not (set(parts[0].split()) & {"usr", "var", "work", "home"})


def test_host_mounts_invisible(rootfs: Path, isolation: str) -> None:
    status, text = sh(rootfs, "cat /proc/self/mountinfo", isolation)
    assert status == 0
    targets = [line.split()[4] for line in text.splitlines()]
    assert "/" in targets and "/proc" in targets and "/dev/pts" in targets
    assert not [t for t in targets if t.startswith(("/work", "/tmp", "/home", "/sys/fs/cgroup/"))]


ESCAPE_C = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    mkdir("/dev/shm/jail", 0755);
    if (chroot("/dev/shm/jail") != 0) { perror("chroot"); return 2; }
    for (int i = 0; i < 100; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    puts(access(argv[1], F_OK) == 0 ? "ESCAPED" : "CONTAINED");
    return 0;
}
"""


def test_classic_chroot_escape_fails(rootfs: Path, isolation: str, tmp_path: Path) -> None:
    need_tool("gcc")
    src = tmp_path / "escape.c"
    src.write_text(ESCAPE_C)
    marker = tmp_path / "host-only-marker"
    marker.write_text("host")
    built = subprocess.run(["gcc", "-static", "-O1", "-o", str(rootfs / "bin" / "escape"), str(src)],
                           capture_output=True, check=False)
    if built.returncode != 0:
        pytest.skip(f"cannot build a static helper: {built.stderr.decode(errors='replace')[:200]}")
    status, text = sh(rootfs, f"escape {marker}", isolation)  # CAP_SYS_CHROOT is in the default set
    assert status == 0, text
    assert "CONTAINED" in text and "ESCAPED" not in text


def test_command_not_found(rootfs: Path, isolation: str) -> None:
    out = Collector()
    spec = RunSpec(rootfs=str(rootfs), argv=["no-such-tool", "x"], env=["PATH=/bin:/usr/bin"], output=out)
    prepare_stubs(rootfs, spec)
    assert run(spec, isolation) == 127
    assert "no-such-tool" in out.text and "executable file not found in $PATH" in out.text


def test_command_found_through_path(rootfs: Path, isolation: str) -> None:
    out = Collector()
    spec = RunSpec(rootfs=str(rootfs), argv=["echo", "via", "PATH"], env=["PATH=/nowhere:/bin"], output=out)
    prepare_stubs(rootfs, spec)
    assert run(spec, isolation) == 0
    assert out.text == "via PATH\n"


def test_missing_stub_is_an_error(rootfs: Path, isolation: str) -> None:
    spec = RunSpec(rootfs=str(rootfs), argv=["true"], env=[])
    prepare_stubs(rootfs, spec)
    (rootfs / "etc" / "resolv.conf").unlink()
    with pytest.raises(SandboxError, match="/etc/resolv.conf"):
        run(spec, isolation)


def test_output_none_discards(rootfs: Path, isolation: str, capfd: pytest.CaptureFixture[str]) -> None:
    spec = RunSpec(rootfs=str(rootfs), argv=["sh", "-c", "echo lost-out-7f3; echo lost-err-7f3 >&2; exit 4"],
                   env=["PATH=/bin"])
    assert spec.output is None
    prepare_stubs(rootfs, spec)
    assert run(spec, isolation) == 4
    seen = capfd.readouterr()  # at the descriptor level: a step writing to pybuild's own stdout shows here
    assert "lost-" not in seen.out + seen.err


def test_bind_and_tmpfs_mounts(rootfs: Path, isolation: str, tmp_path: Path) -> None:
    src = tmp_path / "ctx"
    src.mkdir()
    (src / "file.txt").write_text("from the host\n")
    rw = tmp_path / "rw"
    rw.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    mounts = [
        Mount(target="/run/secrets/token", source=str(secret), type="bind"),
        Mount(target="/ctx", source=str(src), type="bind"),
        Mount(target="/out", source=str(rw), type="bind", readonly=False),
        Mount(target="/scratch", source=None, type="tmpfs", readonly=False, options={"size": "1m", "mode": "1777"}),
    ]
    status, text = sh(rootfs, "cat /run/secrets/token; echo x > /run/secrets/token || echo secret-ro; "
                              "cat /ctx/file.txt; touch /ctx/new && echo ctx-writable; "
                              "echo made > /out/made; stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo",
                      isolation, mounts=mounts)
    assert status == 0, text
    assert "from the host" in text and "s3cret" in text and "secret-ro" in text
    assert secret.read_text() == "s3cret\n"
    assert "ctx-writable" not in text
    assert (rw / "made").read_text() == "made\n"
    assert not (src / "new").exists()
    assert "size=1024k" in text
    if isolation == "chroot":  # runc 1.1 gives a tmpfs the mode of the directory it covers
        assert "1777" in text


def test_mount_target_symlink_stays_inside(rootfs: Path, isolation: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "inside").mkdir()
    os.symlink(str(outside), rootfs / "link")  # an image symlink naming a host path
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_text("data\n")
    spec = RunSpec(rootfs=str(rootfs), argv=["true"], env=[])
    prepare_stubs(rootfs, spec)
    # the target resolves inside the rootfs: rootfs/<outside path> must be the stub
    inner = rootfs / str(outside).lstrip("/")
    inner.mkdir(parents=True)
    status, text = sh(rootfs, f"cat {outside}/data", isolation,
                      mounts=[Mount(target="/link", source=str(src), type="bind")])
    assert status == 0, text
    assert text == "data\n"
    assert list(outside.iterdir()) == []  # nothing appeared on the host


def test_symlink_bind_source_refused(rootfs: Path, isolation: str, tmp_path: Path) -> None:
    os.symlink("/etc", tmp_path / "evil")
    (rootfs / "m").mkdir()
    with pytest.raises(SandboxError, match="symbolic link"):
        sh(rootfs, "true", isolation, mounts=[Mount(target="/m", source=str(tmp_path / "evil"), type="bind")])


def test_tmpfs_option_injection_refused(rootfs: Path, isolation: str) -> None:
    (rootfs / "t").mkdir()
    with pytest.raises(SandboxError):
        sh(rootfs, "true", isolation, mounts=[Mount(target="/t", source=None, type="tmpfs",
                                                    options={"size": "1m,exec,dev"})])


def _alive(marker: str) -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    return True
        except OSError:
            continue
    return False


def test_interrupted_run_kills_the_step(rootfs: Path, isolation: str) -> None:
    marker = "417.25"

    def stop(chunk: bytes) -> None:
        raise KeyboardInterrupt

    spec = RunSpec(rootfs=str(rootfs), argv=["sh", "-c", f"echo started; sleep {marker}"], env=["PATH=/bin"],
                   output=stop)
    prepare_stubs(rootfs, spec)
    with pytest.raises(KeyboardInterrupt):
        run(spec, isolation)
    for _ in range(100):
        if not _alive(f"sleep\0{marker}"):
            break
        time.sleep(0.05)
    assert not _alive(f"sleep\0{marker}")


def _pids_of(marker: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(pid))
            except OSError:
                pass
    return out


def test_killed_step_reports_128_plus_signal(rootfs: Path, isolation: str) -> None:
    marker = "sleep\0" + "391.5"
    killed: list[int] = []

    def on_output(chunk: bytes) -> None:
        if b"ready" in chunk:
            for _ in range(100):
                pids = _pids_of(marker)
                if pids:
                    break
                time.sleep(0.02)
            for pid in pids:
                os.kill(pid, 9)
                killed.append(pid)

    spec = RunSpec(rootfs=str(rootfs), argv=["sh", "-c", "echo ready; exec sleep 391.5"], env=["PATH=/bin"],
                   output=on_output)
    prepare_stubs(rootfs, spec)
    status = run(spec, isolation)
    assert killed
    assert status == 128 + 9


def test_concurrent_steps(tmp_path: Path, isolation: str) -> None:
    """Steps run from several threads at once each get their own output and status."""
    import threading

    results: dict[int, tuple[int, str]] = {}

    def one(i: int) -> None:
        root = make_rootfs(tmp_path / f"r{i}")
        for _ in range(3):
            results[i] = sh(root, f"echo step-{i}; exit {i}", isolation)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: (i, f"step-{i}\n") for i in range(4)}


def test_over_an_overlay_rootfs(tmp_path: Path, isolation: str) -> None:
    """The working container's shape: the step's writes land in the overlay's upper directory."""
    from pybuild.builder.sandbox.overlay import mount_overlay, unmount

    lower = make_rootfs(tmp_path / "lower")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    spec = RunSpec(rootfs=str(tmp_path / "merged"), argv=["sh", "-c", "echo built > /made; cat /made"],
                   env=["PATH=/bin"])
    prepare_stubs(stubs, spec)
    for d in ("upper", "work", "merged"):
        (tmp_path / d).mkdir()
    mount_overlay([str(stubs), str(lower)], str(tmp_path / "upper"), str(tmp_path / "work"),
                  str(tmp_path / "merged"))
    try:
        out = Collector()
        spec.output = out
        assert run(spec, isolation) == 0
        assert out.text == "built\n"
    finally:
        unmount(str(tmp_path / "merged"))
    assert (tmp_path / "upper" / "made").read_text() == "built\n"
    assert sorted(p.name for p in (tmp_path / "upper").iterdir()) == ["made"]


def test_stdout_and_stderr_keep_their_order(rootfs: Path, isolation: str) -> None:
    """One stream, in the order the step wrote it (runc run's two copying pipes reordered it)."""
    script = "for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done"
    status, text = sh(rootfs, script, isolation)
    assert status == 0
    assert text.split() == [f"{s}{i}" for i in range(1, 9) for s in ("out", "err")]


@pytest.fixture
def loop_device(tmp_path: Path) -> Any:
    """A host block device (a loop device over a file) whose content the test knows."""
    need_tool("losetup")
    backing = tmp_path / "disk.img"
    backing.write_bytes(b"HOST-DISK-SECRET".ljust(1 << 20, b"\0"))
    try:
        dev = subprocess.run(["losetup", "-f", "--show", str(backing)], check=True, capture_output=True,
                             text=True).stdout.strip()
    except subprocess.CalledProcessError as e:
        pytest.skip(f"no loop device here: {e.stderr.strip()}")
    try:
        yield os.stat(dev).st_rdev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_device_nodes_open_only_the_allowed(rootfs: Path, isolation: str, tmp_path: Path,
                                            loop_device: int) -> None:
    """Given CAP_MKNOD a step may make a node of the host's disk (in its rootfs, in /dev, or find
    one through a bind mount), but not open it: runc's device cgroup, the nodev mounts under
    chroot. The allowed nodes (null, zero, urandom, tty's ptmx) still work."""
    major, minor = os.major(loop_device), os.minor(loop_device)
    devs = tmp_path / "devs"
    devs.mkdir()
    os.mknod(devs / "disk", 0o600 | 0o060000, loop_device)  # a block node, as a host dir might hold
    wanted = apply_cap_changes(DEFAULT_CAPABILITIES, ["MKNOD"], [])
    script = (f"mkdir -p /tmp; mknod /tmp/disk b {major} {minor} && echo made-rootfs; head -c 16 /tmp/disk; "
              f"mknod /dev/disk b {major} {minor} && echo made-dev; head -c 16 /dev/disk; "
              "head -c 16 /mnt/disk; "
              "echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c && "
              "test -c /dev/pts/ptmx && echo allowed-ok")
    status, text = sh(rootfs, script, isolation, capabilities=wanted,
                      mounts=[Mount(target="/mnt", source=str(devs), type="bind")])
    assert "made-rootfs" in text and "made-dev" in text, text  # mknod itself is allowed, as under runc
    assert "HOST-DISK-SECRET" not in text, text
    assert "allowed-ok" in text, text
    assert status == 0, text
