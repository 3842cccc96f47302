"""pybuild in the shape of a Kubernetes pod (issue 13 item 6): a runc container that is not
privileged, with only the default capabilities of containerd/CRI-O (no SYS_ADMIN), the
default seccomp profile, allowPrivilegeEscalation (newuidmap is setuid), run as the non-root
user pybuild-test; pybuild builds an example with RUN steps inside it. docs/kubernetes.md
gives the Pod and Job specs this stands for.

The container's root filesystem is the machine's /usr and /etc read-only (pybuild, python3,
newuidmap, busybox come from there), this checkout and its packages read-only, and a writable
HOME for the store, as a pod's image and an emptyDir would give.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rootless_helpers import (
    PROJECT,
    RootlessUser,
    chown_tree,
    host_mounts_under,
    python_for_user,
    rootless_user,
)

from pybuild.builder.sandbox.seccomp import step_profile

pytestmark = [pytest.mark.root, pytest.mark.integration]

# containerd's and CRI-O's default set: what a pod gets without securityContext.capabilities
POD_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
# runc's (and so every CRI runtime's) masked and read-only /proc paths
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


@pytest.fixture
def user() -> Iterator[RootlessUser]:
    yield from rootless_user()


def _bind(src: str, dst: str | None = None, ro: bool = True) -> dict[str, object]:
    return {"destination": dst or src, "type": "bind", "source": src, "options": ["rbind", "ro" if ro else "rw"]}


def _spec(user: RootlessUser, rootfs: Path, image_bin: Path, argv: list[str]) -> dict[str, object]:
    pw_uid, pw_gid = os.stat(user.home).st_uid, os.stat(user.home).st_gid
    site = sysconfig.get_paths()["purelib"]
    env = [f"{k}={v}" for k, v in {**user.env(), "PATH": "/usr/local/bin:/usr/bin:/bin"}.items()]
    mounts: list[dict[str, object]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        _bind("/usr"), _bind("/etc"), _bind(str(image_bin), "/usr/local/bin"),
        _bind(str(PROJECT)), _bind(site),
        _bind(str(user.base), ro=False),
    ]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": pw_uid, "gid": pw_gid}, "args": argv, "env": env,
            "cwd": str(user.base), "noNewPrivileges": False,  # allowPrivilegeEscalation: newuidmap is setuid
            "capabilities": {k: POD_CAPABILITIES for k in ("bounding", "permitted", "effective")},
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "pod",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": MASKED, "readonlyPaths": READONLY,
            "seccomp": step_profile("default", POD_CAPABILITIES),
        },
    }


def _rootfs(base: Path, user_base: Path) -> Path:
    rootfs = base / "rootfs"
    for d in ("proc", "dev", "sys", "tmp", "usr", "etc"):
        (rootfs / d).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{link}"):
            os.symlink(os.readlink(f"/{link}"), rootfs / link)
    for path in (PROJECT, Path(sysconfig.get_paths()["purelib"]), user_base):
        (rootfs / str(path).lstrip("/")).mkdir(parents=True, exist_ok=True)
    return rootfs


def _image_bin(base: Path) -> Path:
    """newuidmap and newgidmap as a pod's image must have them: file capabilities
    (cap_setuid / cap_setgid, and cap_setfcap to map uid 0), not setuid root. Debian's setuid
    copies run as euid 0, and writing another user's namespace maps as euid 0 needs
    CAP_SYS_ADMIN, which a pod does not have (quay.io/buildah/stable's image does the same)."""
    setcap = shutil.which("setcap")
    if not setcap:
        pytest.skip("setcap is not installed (apt-get install libcap2-bin)")
    out = base / "image-bin"
    out.mkdir()
    for tool, cap in (("newuidmap", "cap_setuid"), ("newgidmap", "cap_setgid")):
        shutil.copy2(shutil.which(tool) or f"/usr/bin/{tool}", out / tool)
        os.chmod(out / tool, 0o755)
        subprocess.run([setcap, f"{cap},cap_setfcap+ep", str(out / tool)], check=True, capture_output=True)
    return out


def _run_pod(user: RootlessUser, argv: list[str]) -> subprocess.CompletedProcess[str]:
    runc = shutil.which("runc")
    if not runc:
        pytest.skip("runc is not installed")
    if not os.path.islink("/bin") or not os.path.isdir("/usr/bin"):
        pytest.skip("the pod's filesystem is this machine's /usr: needs a merged-/usr system (Debian 12)")
    base = Path(tempfile.mkdtemp(prefix="pybuild-pod-"))  # beside the user's dir, not in it
    try:
        bundle = base / "bundle"
        bundle.mkdir()
        spec = _spec(user, _rootfs(base, user.base), _image_bin(base), argv)
        (bundle / "config.json").write_text(json.dumps(spec))
        name = f"pybuild-pod-{uuid.uuid4().hex[:12]}"
        try:
            return subprocess.run([runc, "run", "--bundle", str(bundle), name], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=600)
        finally:
            subprocess.run([runc, "delete", "--force", name], capture_output=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_a_pod_builds_an_example_with_run_steps(user: RootlessUser, isolation: str) -> None:
    bb = user.base / "bb"
    bb.mkdir()
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", bb / "busybox")
    shutil.copy2(PROJECT / "examples" / "Containerfiles" / "busybox" / "Containerfile", bb / "Containerfile")
    shutil.copytree(PROJECT / "examples" / "Containerfiles" / "hello", user.base / "hello")
    chown_tree(user.base, user.user)
    py = " ".join([*python_for_user(), "-m", "pybuild"])
    script = (f"set -e; id -u; grep CapEff /proc/self/status; {py} bud -q --isolation {isolation} -t busybox {bb}; "
              f"{py} bud --isolation {isolation} -t hello {user.base / 'hello'}; c=$({py} from hello); "
              f"{py} run --isolation {isolation} $c -- greet; "
              f"{py} info")
    proc = _run_pod(user, ["/bin/sh", "-c", script])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] != "0"  # not root in the pod
    assert int(lines[1].split()[1], 16) == 0  # an ordinary user: no effective capabilities
    assert "hello, world" in proc.stdout or "hello world" in proc.stdout, proc.stdout
    assert "Successfully tagged localhost/hello:latest" in proc.stdout
    assert host_mounts_under(user.base) == []
