"""chroot isolation: run a step in new namespaces over its rootfs, with no runtime binary.

Process shape (fork, not a helper interpreter: a RUN costs a few milliseconds)::

    pybuild ── fork ─► C  (host PID ns)  unshare(mnt, pid, uts, ipc[, net]); lo up; hostname;
                          │              make / private; fork; wait; exit with the step's status
                          └─ fork ─► G   (PID 1 of the new ns) bind rootfs on itself, mount
                                         proc/sys/dev/etc files/extra mounts on targets opened
                                         inside it (openat2 RESOLVE_IN_ROOT), mark them all nodev,
                                         bind the allowed device nodes in, pivot_root into it,
                                         mask /proc, install the seccomp filter, drop
                                         capabilities, set ids, execve the step

The step is PID 1 of its namespace, as under runc: when it exits the kernel
kills whatever it left behind. C and G carry PR_SET_PDEATHSIG=SIGKILL, so
killing pybuild kills the step. Every mount happens in the private mount
namespace and disappears with it; nothing is written into the rootfs.

Devices, without a device cgroup: runc lets a step create any node (given CAP_MKNOD) but open
only its allow-list (null, zero, full, random, urandom, tty, ptmx and the pts, --device). Here
every mount of the step's tree is made nodev (mount_setattr, recursively: the rootfs, binds,
volumes, /dev's tmpfs) before the allowed nodes are bound in from the host's /dev, each its own
mount, and devpts is mounted last. So a node a step makes, or one a layer or a bind mount brings,
cannot be opened; the allowed ones can, as under runc.

G reports a failure before execve on a close-on-exec status pipe: EOF there
means the step is running. Between fork and execve the child runs only code
and data prepared by the parent (no imports, no allocation-heavy work): a
forked copy of a threaded interpreter must not touch locks other threads held.
"""

from __future__ import annotations

import errno
import gc
import os
import resource
import shutil
import signal
import stat
import tempfile
from typing import Any, NoReturn

from pybuild.builder.sandbox import caps as _caps
from pybuild.builder.sandbox import cgroups as _cgroups
from pybuild.builder.sandbox import forking as F
from pybuild.builder.sandbox import linux as L
from pybuild.builder.sandbox import seccomp as _seccomp
from pybuild.builder.sandbox.spec import (
    RunSpec,
    check_stubs,
    env_path,
    etc_overrides,
    sorted_mounts,
    tmpfs_data,
    validate,
)
from pybuild.builder.sandbox.userns import hostname_settable, proc_mountable
from pybuild.errors import SandboxError

MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")  # bound from the host's /dev
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
              ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))

_NOSUID_NODEV_NOEXEC = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC
_EXIT_SETUP = 125


# The plans are plain classes, not dataclasses: making those 3 at import cost ~1.7 ms of
# every build that runs a step (issue 19), for no equality, ordering or repr anyone uses.


class _BindPlan:
    __slots__ = ("target", "source", "readonly", "recursive", "device")

    def __init__(self, target: str, source: str, readonly: bool, recursive: bool, device: bool = False) -> None:
        self.target = target
        self.source = source  # host path, opened O_PATH|O_NOFOLLOW in the child before pivot_root
        self.readonly = readonly
        self.recursive = recursive
        self.device = device  # a --device node: bound after the tree is made nodev


class _TmpfsPlan:
    __slots__ = ("target", "data", "readonly")

    def __init__(self, target: str, data: str, readonly: bool) -> None:
        self.target = target
        self.data = data
        self.readonly = readonly


class _Plan:
    """Everything the child needs, computed before fork; made with every field named."""

    root: str
    flags: int
    network_none: bool
    netns: str  # a network namespace file to join ("" : none)
    hostname: str
    etc_files: list[tuple[str, str]]  # (container path, host temp file)
    mounts: list[_BindPlan | _TmpfsPlan]
    keep_caps: int
    drop_caps: list[int]
    uid: int
    gid: int
    groups: list[int]
    no_new_privs: bool
    cwd: str
    argv0: str
    argv: list[bytes]
    env: dict[bytes, bytes]
    path_dirs: list[str]
    stdin: bool
    capture: bool
    seccomp: _seccomp.Program | None  # compiled here, installed by the child before execve
    shm_data: str  # /dev/shm's tmpfs options
    own_proc: bool  # a procfs of the step's PID namespace (else the container's /proc, bound: a pod)
    rlimits: list[tuple[int, int, int]]  # (RLIMIT_*, soft, hard), set by C before it forks G
    cgroup_procs: list[str]  # cgroup.procs files C writes 0 to (joins), before unsharing
    cgroup_views: list[tuple[str, str]]  # (name under /sys/fs/cgroup, host dir); "" : v2, at the top

    def __init__(self, **fields: Any) -> None:
        if set(fields) != set(_Plan.__annotations__):
            raise TypeError(f"_Plan fields: {sorted(set(fields) ^ set(_Plan.__annotations__))}")
        self.__dict__.update(fields)


def run_chroot(spec: RunSpec) -> int:
    """Run ``spec`` in new namespaces; return its exit status (128+N if killed by signal N)."""
    validate(spec)
    root = os.path.realpath(spec.rootfs)
    if not os.path.isdir(root) or root == "/":
        raise SandboxError("rootfs is not a directory (or is the host's /)", where=spec.rootfs)
    check_stubs(spec, root)
    if spec.network == "none":  # loaded before fork, for linux.set_loopback_up in the child
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import struct  # noqa: F401
    tmp = tempfile.mkdtemp(prefix="pybuild-run-")
    try:
        if os.path.commonpath([root, tmp]) == root:
            raise SandboxError("the temporary directory lies inside the rootfs", where=tmp)
        with _cgroups.step_cgroup(spec.resources) as cgroup:
            plan = _make_plan(spec, root, tmp, cgroup)
            L.libc()  # load libc now: the child must not
            return _fork_and_wait(spec, plan)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rlimit(value: int) -> int:
    from pybuild.builder.sandbox.resources import UNLIMITED

    return resource.RLIM_INFINITY if value == UNLIMITED else value


def _make_plan(spec: RunSpec, root: str, tmp: str, cgroup: _cgroups.StepCgroup | None = None) -> _Plan:
    etc: list[tuple[str, str]] = []
    for name, content in etc_overrides(spec):
        host = os.path.join(tmp, name)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, content.encode())
        finally:
            os.close(fd)
        os.chmod(host, 0o644)
        etc.append(("/etc/" + name, host))
    mounts: list[_BindPlan | _TmpfsPlan] = []
    for m in sorted_mounts(spec.mounts):
        if m.type == "bind":
            assert m.source is not None
            mounts.append(_BindPlan(m.target, os.path.abspath(m.source), m.readonly,
                                    m.options.get("recursive", "true") != "false"))
        else:
            mounts.append(_TmpfsPlan(m.target, tmpfs_data(m), m.readonly))
    res = spec.resources
    for d in res.devices:  # the host's node bound into the step's own /dev, after nodev
        mounts.append(_BindPlan(d.target, d.source, "w" not in d.access, False, device=True))
    keep = _caps.mask(spec.capabilities) & _caps.current_bounding()
    last = _caps.last_cap()
    flags = L.CLONE_NEWNS | L.CLONE_NEWPID | L.CLONE_NEWUTS | L.CLONE_NEWIPC
    if spec.network == "none":
        flags |= L.CLONE_NEWNET
    if res.cgroupns == "private":
        flags |= L.CLONE_NEWCGROUP  # unshared after joining the step's cgroup: that is its root
    profile = _seccomp.step_profile(spec.seccomp, _caps.names_of(keep))
    env: dict[bytes, bytes] = {}
    for e in spec.env:
        k, sep, v = e.partition("=")
        if sep and k:
            env[os.fsencode(k)] = os.fsencode(v)
    return _Plan(
        root=root, flags=flags, network_none=spec.network == "none",
        netns=spec.netns if spec.network == "ns" else "", hostname=spec.hostname if hostname_settable() else "",
        etc_files=etc, mounts=mounts, keep_caps=keep,
        drop_caps=[c for c in range(last + 1) if not keep >> c & 1],
        uid=spec.uid, gid=spec.gid, groups=list(dict.fromkeys(spec.additional_gids)),
        no_new_privs=spec.no_new_privileges, cwd=spec.cwd, argv0=spec.argv[0],
        argv=[os.fsencode(a) for a in spec.argv], env=env,
        path_dirs=env_path(spec.env).split(":"), stdin=spec.stdin, capture=spec.output is not None,
        seccomp=_seccomp.compile_filter(profile) if profile is not None else None,
        shm_data=f"mode=1777,size={res.shm_size}", own_proc=proc_mountable(),
        rlimits=[(getattr(resource, u.rlimit), _rlimit(u.soft), _rlimit(u.hard)) for u in res.ulimits],
        cgroup_procs=cgroup.procs if cgroup else [], cgroup_views=cgroup.views() if cgroup else [],
    )


def _fork_and_wait(spec: RunSpec, plan: _Plan) -> int:
    parent = os.getpid()
    try:
        netns_fd = os.open(plan.netns, os.O_RDONLY | os.O_CLOEXEC) if plan.netns else -1
    except OSError as e:
        raise SandboxError(f"network namespace {plan.netns}: {e.strerror}") from None
    try:
        return _run_forked(spec, plan, parent, netns_fd)
    finally:
        if netns_fd >= 0:
            os.close(netns_fd)


def _run_forked(spec: RunSpec, plan: _Plan, parent: int, netns_fd: int) -> int:
    with F.forked(lambda status_w, out_w: _child(plan, parent, status_w, out_w, netns_fd), plan.capture) as child:
        report = F.read_all(child.status_r)
        if report:
            kind, _, message = report.decode(errors="replace").partition(":")
            child.wait()
            if kind == "S":
                raise SandboxError(message.strip(), where=spec.rootfs)
            # the command could not be executed: say why on the step's output, like buildah
            if spec.output is not None:
                spec.output(message.encode())
            return 126 if kind == "X" else 127
        if child.out_r >= 0:
            F.pump(child.out_r, spec.output)
        return F.exit_status(child.wait())


# ---------------------------------------------------------------- the child side


def _report(fd: int, kind: str, message: str, code: int) -> NoReturn:  # pragma: no cover
    try:
        os.write(fd, f"{kind}:{message}\n".encode(errors="replace"))
    finally:
        os._exit(code)


def _child(plan: _Plan, parent: int, status_w: int, out_w: int,
           netns_fd: int) -> NoReturn:  # pragma: no cover
    """C: new namespaces (or the given network namespace joined), then fork G and wait for it.
    Never returns."""
    try:
        gc.disable()
        F.reset_signals()
        L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(_EXIT_SETUP)
        F.close_fds_except([status_w, out_w, netns_fd])
        for procs in plan.cgroup_procs:  # join the step's cgroup: everything forked from here is in it
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for which, soft, hard in plan.rlimits:
            try:
                resource.setrlimit(which, (soft, hard))
            except (OSError, ValueError) as e:  # (check_host_limits said so before the fork, normally)
                raise SandboxError(f"--ulimit: rlimit {which} cannot be {soft}:{hard} here: {e}") from None
        if netns_fd >= 0:
            L.setns(netns_fd, L.CLONE_NEWNET)
            os.close(netns_fd)
        L.unshare(plan.flags)
        if plan.network_none:
            L.set_loopback_up()
        if plan.hostname:  # (empty: a pod's seccomp refuses it; the step keeps the pod's)
            L.sethostname(plan.hostname)
        L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
        pid = os.fork()
        if pid == 0:
            _grandchild(plan, status_w, out_w)
        os.close(status_w)
        if out_w >= 0:
            os.close(out_w)
        _, wstatus = os.waitpid(pid, 0)
        os._exit(F.exit_status(wstatus))
    except BaseException as e:  # noqa: BLE001 - the child must never return into pybuild
        _report(status_w, "S", _describe(e), _EXIT_SETUP)
    os._exit(_EXIT_SETUP)


def _describe(e: BaseException) -> str:  # pragma: no cover
    if isinstance(e, OSError):
        where = f" ({e.filename})" if e.filename else ""
        return f"{e.strerror or e}{where}"
    return str(e) or type(e).__name__


def _grandchild(plan: _Plan, status_w: int, out_w: int) -> NoReturn:  # pragma: no cover
    """G, PID 1 of the new namespace: build the step's root, become its user, exec."""
    try:
        L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.umask(0)
        # Every mount is made before pivot_root (a bind source must be in this namespace's
        # tree), on targets opened inside the rootfs so no symlink of the image leads out.
        L.mount(plan.root, plan.root, None, L.MS_BIND | L.MS_REC)
        root_fd = os.open(plan.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        _mount_system(root_fd, plan.shm_data, own_proc=plan.own_proc)
        if plan.cgroup_views:
            _mount_cgroup_view(root_fd, plan.cgroup_views)
        for path, host in plan.etc_files:
            src = os.open(host, os.O_PATH | os.O_CLOEXEC)
            _bind(src, root_fd, path, readonly=False, recursive=False)
        for m in plan.mounts:
            if not (isinstance(m, _BindPlan) and m.device):
                _mount_planned(root_fd, m)
        L.set_nodev_recursive(plan.root)  # the device policy (module docstring): no node opens...
        _mount_dev_nodes(root_fd)  # ...but the allowed ones, bound in after
        for m in plan.mounts:
            if isinstance(m, _BindPlan) and m.device:
                _mount_planned(root_fd, m)
        os.close(root_fd)
        _enter_root(plan.root)
        _mask_proc()
        os.umask(0o022)
        if plan.seccomp is not None and not plan.no_new_privs:
            # without no_new_privs only CAP_SYS_ADMIN allows a filter: install it while held
            # (runc's order); what follows (setuid, capset, chdir, execve) the profile allows
            _seccomp.install(plan.seccomp)
        _drop_privileges(plan)
        try:
            os.chdir(plan.cwd)
        except OSError as e:
            raise SandboxError(f"working directory {plan.cwd}: {e.strerror}") from None
        null = os.open("/dev/null", os.O_RDWR)
        if not plan.stdin:
            os.dup2(null, 0)
        os.dup2(out_w if out_w >= 0 else null, 1)
        os.dup2(out_w if out_w >= 0 else null, 2)
        F.close_fds_except([status_w])
        exe = _look_path(plan)
        if exe is None:
            _report(status_w, "N", f"{plan.argv0}: executable file not found in $PATH", 127)
        if plan.seccomp is not None and plan.no_new_privs:
            _seccomp.install(plan.seccomp)  # as late as can be: only execve follows
        try:
            os.execve(exe, plan.argv, plan.env)
        except OSError as e:
            kind = "N" if e.errno in (errno.ENOENT, errno.ENOTDIR) else "X"
            _report(status_w, kind, f"{plan.argv0}: {e.strerror}", 127 if kind == "N" else 126)
    except BaseException as e:  # noqa: BLE001 - the child must never return into pybuild
        _report(status_w, "S", _describe(e), _EXIT_SETUP)
    os._exit(_EXIT_SETUP)


def _target(root_fd: int, path: str) -> int:  # pragma: no cover
    """An O_PATH descriptor of mount point ``path``, resolved inside the rootfs."""
    try:
        return L.open_in_root(root_fd, path)
    except OSError as e:
        raise SandboxError(f"mount point {path}: {e.strerror}") from None


def _enter_root(root: str) -> None:  # pragma: no cover
    """pivot_root into ``root`` and detach the host's tree; chroot only where pivot_root cannot work."""
    os.chdir(root)
    try:
        L.pivot_root(".", ".")
        L.umount2(".", L.MNT_DETACH)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        # e.g. the host root is a ramfs: move the rootfs over / and chroot into it
        L.mount(root, "/", None, L.MS_MOVE)
        os.chroot(".")
    os.chdir("/")


def _mount_cgroup_view(root_fd: int, views: list[tuple[str, str]]) -> None:  # pragma: no cover
    """The step's own cgroup, read-only at /sys/fs/cgroup (as runc shows it): v2's one
    directory there; v1's controllers each at /sys/fs/cgroup/NAME on a read-only tmpfs."""
    if len(views) == 1 and views[0][0] == "":
        _bind(os.open(views[0][1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC), root_fd, "/sys/fs/cgroup",
              readonly=True, recursive=False)
        return
    t = _target(root_fd, "/sys/fs/cgroup")
    L.mount("tmpfs", L.fd_path(t), "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=755")
    os.close(t)
    t = _target(root_fd, "/sys/fs/cgroup")
    try:
        for name, _host in views:
            os.mkdir(name, 0o555, dir_fd=t)
    finally:
        os.close(t)
    for name, host in views:
        _bind(os.open(host, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC), root_fd, f"/sys/fs/cgroup/{name}",
              readonly=True, recursive=False)
    t = _target(root_fd, "/sys/fs/cgroup")
    try:
        L.bind_readonly(L.fd_path(t))
    finally:
        os.close(t)


def _mount_planned(root_fd: int, m: _BindPlan | _TmpfsPlan) -> None:  # pragma: no cover
    if m.target.startswith("/dev/"):
        _dev_mountpoint(root_fd, m.target, isinstance(m, _TmpfsPlan) or os.path.isdir(
            getattr(m, "source", "")))
    if isinstance(m, _BindPlan):
        try:
            src = os.open(m.source, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise SandboxError(f"bind source {m.source}: {e.strerror}") from None
        _bind(src, root_fd, m.target, readonly=m.readonly, recursive=m.recursive)
    else:
        flags = L.MS_NOSUID | L.MS_NODEV | (L.MS_RDONLY if m.readonly else 0)
        target = _target(root_fd, m.target)
        L.mount("tmpfs", L.fd_path(target), "tmpfs", flags, m.data or None)
        os.close(target)


def _mount_system(root_fd: int, shm_data: str = "mode=1777,size=65536k", *,
                  own_proc: bool = True) -> None:  # pragma: no cover
    """/proc, /sys and a fresh /dev, as runc lays them out."""
    t = _target(root_fd, "/proc")
    if own_proc:
        L.mount("proc", L.fd_path(t), "proc", _NOSUID_NODEV_NOEXEC)
    else:
        L.mount("/proc", L.fd_path(t), None, L.MS_BIND | L.MS_REC)  # the pod's, its masks included
    os.close(t)
    t = _target(root_fd, "/sys")
    try:
        L.mount("sysfs", L.fd_path(t), "sysfs", _NOSUID_NODEV_NOEXEC | L.MS_RDONLY)
    except OSError:
        # sysfs may be refused (rootless, in the host's network namespace, which the user
        # namespace does not own): a read-only view of the host's, remounted through a
        # descriptor of the new mount (the old one names the directory under it)
        L.mount("/sys", L.fd_path(t), None, L.MS_BIND | L.MS_REC)
        os.close(t)
        t = _target(root_fd, "/sys")
        L.bind_readonly(L.fd_path(t))
    os.close(t)
    t = _target(root_fd, "/dev")
    L.mount("tmpfs", L.fd_path(t), "tmpfs", L.MS_NOSUID | L.MS_NODEV | L.MS_STRICTATIME, "mode=755,size=65536k")
    os.close(t)
    dev_dir = _dev_dir(root_fd)
    try:
        for name, options, fstype, flags in (
                ("shm", shm_data, "tmpfs", _NOSUID_NODEV_NOEXEC),
                ("mqueue", None, "mqueue", _NOSUID_NODEV_NOEXEC)):
            os.mkdir(name, 0o755, dir_fd=dev_dir)
            t = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_dir)
            L.mount(fstype, L.fd_path(t), fstype, flags, options)
            os.close(t)
        os.mkdir("pts", 0o755, dir_fd=dev_dir)
        for name, target in _DEV_LINKS:
            os.symlink(target, name, dir_fd=dev_dir)
    finally:
        os.close(dev_dir)


def _dev_dir(root_fd: int) -> int:  # pragma: no cover
    """A descriptor of the step's /dev tmpfs itself (not the directory under it)."""
    dev = _target(root_fd, "/dev")
    try:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dev)
    finally:
        os.close(dev)


def _mount_dev_nodes(root_fd: int) -> None:  # pragma: no cover
    """The allowed nodes, each the host's bound on a file in the nodev /dev (its own mount, so
    it opens), and the step's devpts: what runc's default device cgroup lets a step open."""
    dev_dir = _dev_dir(root_fd)
    try:
        for name in _DEVICES:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666, dir_fd=dev_dir)
            os.close(fd)
            t = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_dir)
            L.mount("/dev/" + name, L.fd_path(t), None, L.MS_BIND)
            os.close(t)
        t = os.open("pts", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev_dir)
        L.mount("devpts", L.fd_path(t), "devpts", L.MS_NOSUID | L.MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5")
        os.close(t)
    finally:
        os.close(dev_dir)


def _dev_mountpoint(root_fd: int, path: str, is_dir: bool) -> None:  # pragma: no cover
    """A mount point below /dev (e.g. /dev/pipes/EOF for a RUN heredoc script), made in the
    step's own /dev tmpfs — never in the rootfs."""
    dev = _target(root_fd, "/dev")
    try:
        cur = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dev)
    finally:
        os.close(dev)
    parts = [p for p in path.split("/")[2:] if p]
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if not last or is_dir:
                try:
                    os.mkdir(name, 0o755, dir_fd=cur)
                except FileExistsError:
                    pass
                if last:
                    break
                nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
                os.close(cur)
                cur = nxt
            else:
                try:
                    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o644, dir_fd=cur))
                except FileExistsError:
                    pass
    finally:
        os.close(cur)


def _bind(src: int, root_fd: int, path: str, *, readonly: bool, recursive: bool) -> None:  # pragma: no cover
    """Bind what descriptor ``src`` names onto container path ``path``; ``src`` is closed."""
    try:
        target = _target(root_fd, path)
        try:
            L.mount(L.fd_path(src), L.fd_path(target), None, L.MS_BIND | (L.MS_REC if recursive else 0))
        finally:
            os.close(target)
        if readonly:
            # remount the new mount: resolve the path again, now it leads to the mount itself
            target = _target(root_fd, path)
            try:
                L.bind_readonly(L.fd_path(target))
            finally:
                os.close(target)
    finally:
        os.close(src)


def _mask_proc() -> None:  # pragma: no cover
    """runc's default masked and read-only paths: host knobs a step must not touch."""
    for path in MASKED_PATHS:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            L.mount("tmpfs", path, "tmpfs", L.MS_RDONLY | _NOSUID_NODEV_NOEXEC)
        else:
            L.mount("/dev/null", path, None, L.MS_BIND)
    for path in READONLY_PATHS:
        if os.path.lexists(path):
            L.mount(path, path, None, L.MS_BIND | L.MS_REC)
            L.bind_readonly(path)


def _drop_privileges(plan: _Plan) -> None:  # pragma: no cover
    for cap in plan.drop_caps:
        try:
            L.prctl(L.PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno != errno.EINVAL:  # a capability this kernel lacks
                raise
    try:
        L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    os.setgroups(plan.groups)
    os.setresgid(plan.gid, plan.gid, plan.gid)
    os.setresuid(plan.uid, plan.uid, plan.uid)
    if plan.uid == 0:
        # inheritable stays empty (buildah's fix for CVE-2022-27651)
        L.capset(plan.keep_caps, plan.keep_caps, 0)
    # changing ids cleared the parent-death signal: set it again
    L.prctl(L.PR_SET_PDEATHSIG, signal.SIGKILL)
    if plan.no_new_privs:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)


def _look_path(plan: _Plan) -> str | None:  # pragma: no cover
    """argv[0] resolved through the step's PATH, inside the new root (Go's LookPath rules)."""
    if "/" in plan.argv0:
        return plan.argv0
    for d in plan.path_dirs:
        candidate = os.path.join(d or ".", plan.argv0)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    return None


__all__ = ["run_chroot", "MASKED_PATHS", "READONLY_PATHS"]
