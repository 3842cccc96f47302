"""oci isolation: a runtime-spec bundle run by ``runc``.

The bundle (config.json), runc's state directory and the files bound over
/etc/hosts, /etc/resolv.conf and /etc/hostname all live in a temporary
directory outside the rootfs, removed afterwards; the container is always
``runc delete --force``-d, even when pybuild is interrupted. cgroupsPath is unset:
runc places the step in a cgroup named by its id, with the limits ``RunSpec.resources``
asks for (``linux.resources``), and then mounts that cgroup read-only at /sys/fs/cgroup.
crun is not used: it refuses to run on the hosts pybuild targets.
"""

from __future__ import annotations

import gc
import json
import os
import posixpath
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
from typing import Any, NoReturn

from pybuild.builder.paths import resolve_in_root
from pybuild.builder.sandbox import forking as F
from pybuild.builder.sandbox import linux as L
from pybuild.builder.sandbox.caps import current_bounding, mask, names_of
from pybuild.builder.sandbox.chroot import MASKED_PATHS, READONLY_PATHS
from pybuild.builder.sandbox.seccomp import step_profile
from pybuild.builder.sandbox.spec import (
    RunSpec,
    check_stubs,
    env_path,
    etc_overrides,
    sorted_mounts,
    tmpfs_data,
    validate,
)
from pybuild.errors import ConfigError, SandboxError, UnsafeContentError


def runc_path(runtime: str | None = None) -> str:
    """The runtime binary: ``runtime`` (a path, or a name looked up on PATH; it must take
    runc's command line, as crun does), else runc."""
    path = shutil.which(runtime or "runc")
    if not path:
        if runtime:
            raise ConfigError(f"--runtime {runtime}: no such executable")
        raise SandboxError("runc is not installed (apt-get install runc), or use --isolation chroot")
    return os.path.abspath(path)


def _proc_mount(nsd: list[str]) -> dict[str, Any]:
    """/proc: the step's own, or where the kernel refuses that (rootless in a pod whose /proc has
    masked paths) the pod's bound, masks and all (see userns.proc_mountable)."""
    from pybuild.builder.sandbox.userns import proc_mountable

    if proc_mountable():
        return {"destination": "/proc", "type": "proc", "source": "proc", "options": nsd}
    return {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", *nsd]}


def _sys_mount(spec: RunSpec, nsd: list[str]) -> dict[str, Any]:
    """/sys: a sysfs of the step's network namespace; rootless on the host's network (a
    namespace the user namespace does not own, so sysfs is refused) a read-only bind of the
    host's, as podman does."""
    from pybuild.rootless import is_rootless

    if spec.network not in ("none", "ns") and is_rootless():
        return {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", *nsd, "ro"]}
    return {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*nsd, "ro"]}


def bundle_config(spec: RunSpec, root: str, etc_files: dict[str, str]) -> dict[str, Any]:
    """The runtime-spec config.json for ``spec``; ``etc_files`` maps /etc/X to host temp files."""
    allowed = names_of(mask(spec.capabilities) & current_bounding())
    # a non-root user holds no capability, as the kernel would leave it after setuid
    held = allowed if spec.uid == 0 else []
    process: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": spec.uid, "gid": spec.gid,
                 "additionalGids": list(dict.fromkeys(spec.additional_gids))},
        "args": list(spec.argv),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "capabilities": {"bounding": allowed, "effective": held, "permitted": held,
                         "inheritable": [], "ambient": []},
        "noNewPrivileges": spec.no_new_privileges,
    }
    res = spec.resources
    if res.ulimits:
        process["rlimits"] = res.spec_rlimits()
    nsd = ["nosuid", "noexec", "nodev"]
    mounts: list[dict[str, Any]] = [
        _proc_mount(nsd),
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*nsd, "mode=1777", f"size={res.shm_size}"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nsd},
        _sys_mount(spec, nsd),
    ]
    if res.wants_cgroup():  # the step's own limits, visible where a program looks for them
        mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": [*nsd, "relatime", "ro"]})
    for target, host in etc_files.items():
        mounts.append({"destination": target, "type": "bind", "source": host, "options": ["bind", "rw"]})
    for m in sorted_mounts(spec.mounts):
        if m.type == "bind":
            assert m.source is not None
            kind = "bind" if m.options.get("recursive") == "false" else "rbind"
            mounts.append({"destination": m.target, "type": "bind", "source": os.path.abspath(m.source),
                           "options": [kind, "ro" if m.readonly else "rw"]})
        else:
            opts = ["nosuid", "nodev", "ro" if m.readonly else "rw"]
            data = tmpfs_data(m)
            if data:
                opts += data.split(",")
            mounts.append({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network == "none":
        namespaces.append({"type": "network"})
    elif spec.network == "ns":
        namespaces.append({"type": "network", "path": spec.netns})
    if res.cgroupns == "private":
        namespaces.append({"type": "cgroup"})
    device_rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    device_rules += [{"allow": True, "type": d.kind, "major": d.major, "minor": d.minor, "access": d.access}
                     for d in res.devices]
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": {"devices": device_rules, **res.spec_resources()},
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if res.cgroup_parent:
        linux["cgroupsPath"] = posixpath.join(res.cgroup_parent, f"pybuild-{os.getpid()}-{secrets.token_hex(6)}")
    if res.devices:
        linux["devices"] = [{"path": d.target, "type": d.kind, "major": d.major, "minor": d.minor,
                             "fileMode": d.mode, "uid": 0, "gid": 0} for d in res.devices]
    profile = step_profile(spec.seccomp, allowed)
    if profile is not None:
        linux["seccomp"] = profile
    from pybuild.builder.sandbox.userns import hostname_settable

    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": root, "readonly": False},
        **({"hostname": spec.hostname} if hostname_settable() else {}),  # a pod's seccomp may refuse it
        "mounts": mounts,
        "linux": linux,
    }


def _find_executable(root: str, spec: RunSpec) -> bool:
    """Whether argv[0] names an executable inside the rootfs, looked up as the step would."""
    argv0 = spec.argv[0]
    if "/" in argv0:
        return True  # an explicit path: the runtime reports what is wrong with it
    for d in env_path(spec.env).split(":"):
        base = posixpath.join(spec.cwd, d or ".")
        try:
            host = resolve_in_root(root, posixpath.join(base, argv0))
            st = os.stat(host)
        except (OSError, UnsafeContentError):
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return True
    return False


def run_oci(spec: RunSpec) -> int:
    """Run ``spec`` with runc; return its exit status (128+N if killed by signal N)."""
    validate(spec)
    runc = runc_path(spec.runtime)
    root = os.path.realpath(spec.rootfs)
    if not os.path.isdir(root) or root == "/":
        raise SandboxError("rootfs is not a directory (or is the host's /)", where=spec.rootfs)
    check_stubs(spec, root)
    if not _find_executable(root, spec):
        if spec.output is not None:
            spec.output(f"{spec.argv[0]}: executable file not found in $PATH\n".encode())
        return 127
    tmp = tempfile.mkdtemp(prefix="pybuild-oci-", dir=spec.scratch_dir)
    cid = "pybuild-" + secrets.token_hex(8)
    state = os.path.join(tmp, "state")
    try:
        if os.path.commonpath([root, tmp]) == root:
            raise SandboxError("the temporary directory lies inside the rootfs", where=tmp)
        with open(os.path.join(tmp, RUNTIME_FILE), "w", encoding="utf-8") as f:
            f.write(runc)  # which runtime reap() must ask, should this process die mid-step
        etc_files: dict[str, str] = {}
        for name, content in etc_overrides(spec):
            host = os.path.join(tmp, name)
            with open(host, "w", encoding="utf-8") as f:
                f.write(content)
            os.chmod(host, 0o644)
            etc_files["/etc/" + name] = host
        bundle = os.path.join(tmp, "bundle")
        os.mkdir(bundle, 0o700)
        with open(os.path.join(bundle, "config.json"), "w", encoding="utf-8") as f:
            json.dump(bundle_config(spec, root, etc_files), f)
        return _run_monitored(runc, state, bundle, cid, tmp, spec)
    finally:
        if os.path.exists(os.path.join(state, cid)):  # stopped (or, if interrupted, running): remove it
            subprocess.run([runc, "--root", state, "delete", "--force", cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


RUNTIME_FILE = "runtime"  # beside a step's state dir: the runtime binary that made it


def _recorded_runtime(step_dir: str) -> str | None:
    try:
        with open(os.path.join(step_dir, RUNTIME_FILE), encoding="utf-8") as f:
            path = f.read().strip()
    except OSError:
        return None
    return path if os.path.isabs(path) and os.path.isfile(path) and os.access(path, os.X_OK) else None


def _run_monitored(runc: str, state: str, bundle: str, cid: str, cwd: str, spec: RunSpec) -> int:
    """``runc create`` + ``runc start`` under a monitor process that waits for the step.

    Not ``runc run``: in the foreground runc copies the step's stdout and stderr through two
    pipes of its own, so "echo out; echo err >&2" could arrive as "err out". Created
    containers get pybuild's pipe itself as both (runc's pass-through mode), in order. The
    step is then no child of runc's to wait for, so a forked monitor becomes a child
    subreaper: the step is reparented to it when ``runc create`` exits, and it reports
    the step's exit status on a pipe."""
    env = dict(os.environ)
    with F.forked(lambda status_w, out_w: _monitor(runc, state, bundle, cid, cwd, env, spec.stdin, out_w, status_w),
                  spec.output is not None) as monitor:
        if monitor.out_r >= 0:
            F.pump(monitor.out_r, spec.output)
        report = F.read_all(monitor.status_r)
        monitor.wait()
    kind, _, value = report.decode(errors="replace").partition(":")
    if kind in ("E", "R"):  # the step's status, or a failed runc command's (its message was output)
        return int(value)
    raise SandboxError(value.strip() or "the runc monitor died", where=spec.rootfs)


def _monitor(runc: str, state: str, bundle: str, cid: str, cwd: str, env: dict[str, str], stdin: bool,
             out_w: int, status_w: int) -> NoReturn:  # pragma: no cover - runs in the forked child
    parent = os.getppid()
    try:
        gc.disable()
        F.reset_signals()
        L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(125)
        L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
        null = os.open("/dev/null", os.O_RDWR)
        if not stdin:
            os.dup2(null, 0)
        os.dup2(out_w if out_w >= 0 else null, 1)
        os.dup2(out_w if out_w >= 0 else null, 2)
        F.close_fds_except([status_w])
        os.chdir(cwd)
        pid_file = os.path.join(cwd, "step.pid")
        step = 0
        for args in (["create", "--bundle", bundle, "--pid-file", pid_file, cid], ["start", cid]):
            child = os.posix_spawn(runc, [runc, "--root", state, *args], env)
            _, wstatus = os.waitpid(child, 0)
            code = F.exit_status(wstatus)
            if code != 0:
                os.write(status_w, f"R:{code}".encode())
                os._exit(0)
            if not step:
                with open(pid_file, "rb") as f:
                    step = int(f.read().strip())
        while True:  # the step, and anything else handed to this subreaper
            child, wstatus = os.waitpid(-1, 0)
            if child == step:
                break
        os.write(status_w, f"E:{F.exit_status(wstatus)}".encode())
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - the child must never return into pybuild
        try:
            os.write(status_w, f"S:runc monitor: {e}".encode(errors="replace"))
        finally:
            os._exit(125)


def reap(scratch: str) -> None:
    """Kill and delete runtime containers whose state lies under ``scratch``: what a build that
    was killed mid-RUN left running (runc outlives its parent; the step would go on). Each is
    asked of the runtime that made it (``--runtime``), else of runc."""
    default = shutil.which("runc")
    for dirpath, dirnames, _files in os.walk(scratch):
        if os.path.basename(dirpath) != "state":
            continue
        runc = _recorded_runtime(os.path.dirname(dirpath)) or default
        if not runc:
            dirnames.clear()
            continue
        for cid in list(dirnames):
            for args in (["kill", cid, "KILL"], ["delete", "--force", cid]):
                subprocess.run([runc, "--root", dirpath, *args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=30)
        dirnames.clear()


__all__ = ["run_oci", "bundle_config", "runc_path", "reap"]
