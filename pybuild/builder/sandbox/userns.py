"""Entering a user + mount namespace as an ordinary user, the way buildah's `unshare` does.

No re-exec: the process forks a helper that waits on a pipe, unshares
CLONE_NEWUSER|CLONE_NEWNS itself, tells the helper, and the helper (still outside) runs::

    newuidmap PID 0 UID 1  1 SUBUID_START COUNT
    newgidmap PID 0 GID 1  1 SUBGID_START COUNT

(Debian's uidmap package; setuid root, they check /etc/subuid and /etc/subgid). Then the
process becomes uid/gid 0 of the namespace, holding every capability there: it can mount
overlay (``userxattr``), chown to any mapped id and chroot, while the machine sees the user.
Must be called before any thread starts (unshare of a user namespace refuses threaded
processes): opening a store does it (the CLI's commands, ``pybuild.Store``), so verbs that
never open one (flag mistakes, --help, version, login) stay outside.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
from dataclasses import dataclass

from pybuild.errors import ConfigError, SandboxError
from pybuild.rootless import in_user_namespace

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000


@dataclass(frozen=True)
class IdRange:
    """One subordinate id range of /etc/subuid or /etc/subgid."""

    start: int
    count: int


def subordinate_ranges(path: str, uid: int, name: str) -> list[IdRange]:
    """The ranges ``path`` grants the user (lines ``NAME:START:COUNT`` or ``UID:START:COUNT``)."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        if parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
            out.append(IdRange(int(parts[1]), int(parts[2])))
    return out


def _map_args(own: int, ranges: list[IdRange]) -> list[str]:
    args = ["0", str(own), "1"]
    inside = 1
    for r in ranges:
        args += [str(inside), str(r.start), str(r.count)]
        inside += r.count
    return args


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def missing_ids_error(name: str) -> ConfigError:
    return ConfigError(f"rootless pybuild needs subordinate ids for user {name}: "
                       f"add {name}:100000:65536 to /etc/subuid and /etc/subgid")


def enter_user_namespace(*, required: bool = True) -> bool:
    """Make this process uid 0 of a new user + mount namespace mapping the user to 0 and its
    subordinate ranges to 1..N. Returns False when there is nothing to do (real root, or
    already in a user namespace). When the user has no subordinate ids or uidmap is missing:
    ConfigError (one line naming the fix), or with ``required=False`` False, and
    :func:`require_user_namespace` says it when a step needs the namespace. SandboxError when
    the kernel refuses."""
    if os.geteuid() == 0 or in_user_namespace():
        return False
    uid, gid = os.getuid(), os.getgid()
    missing = _missing()
    if missing is not None:
        if required:
            raise missing
        return False
    name = _user_name(uid)
    uids = subordinate_ranges("/etc/subuid", uid, name)
    gids = subordinate_ranges("/etc/subgid", uid, name)
    tools = shutil.which("newuidmap"), shutil.which("newgidmap")
    import threading

    if threading.active_count() > 1:  # the kernel refuses a threaded process a user namespace
        raise SandboxError("rootless: call pybuild.enter_user_namespace() before this process starts threads")
    _unshare_mapped(uid, gid, uids, gids, (str(tools[0]), str(tools[1])))
    os.environ["PYBUILD_HOST_UID"] = str(uid)
    in_user_namespace.cache_clear()
    return True


def _missing() -> ConfigError | None:
    """Why this user cannot have pybuild's user namespace (None: it can)."""
    uid = os.getuid()
    name = _user_name(uid)
    if not subordinate_ranges("/etc/subuid", uid, name) or not subordinate_ranges("/etc/subgid", uid, name):
        return missing_ids_error(name)
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return ConfigError("rootless pybuild needs newuidmap and newgidmap: apt-get install uidmap")
    return None


def require_user_namespace() -> None:
    """Before a step runs or an overlay is mounted: real root or pybuild's user namespace, else
    one line saying why not (no subordinate ids, no uidmap, or a library caller that did not
    call :func:`enter_user_namespace`)."""
    if os.geteuid() == 0 or in_user_namespace():
        return
    missing = _missing()
    if missing is not None:
        raise missing
    raise SandboxError("rootless: this process is not in pybuild's user namespace "
                       "(call pybuild.enter_user_namespace() before it starts threads)")


def _unshare_mapped(uid: int, gid: int, uids: list[IdRange], gids: list[IdRange], tools: tuple[str, str]) -> None:
    from pybuild.builder.sandbox import linux as L

    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.getpid()
    helper = os.fork()
    if helper == 0:  # the helper: outside, waits for the unshare, then writes the maps
        status = 1
        try:
            os.close(go_w)
            os.close(done_r)
            if os.read(go_r, 1) == b"1":
                status = _write_maps(pid, tools, _map_args(uid, uids), _map_args(gid, gids), done_w)
        finally:
            os._exit(status)
    os.close(go_r)
    os.close(done_w)
    try:
        L.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    except OSError as e:
        os.write(go_w, b"0")
        os.close(go_w)
        os.waitpid(helper, 0)
        raise SandboxError(f"cannot create a user namespace: {e.strerror} "
                           "(is kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)") from None
    os.write(go_w, b"1")
    os.close(go_w)
    message = b""
    while chunk := os.read(done_r, 4096):
        message += chunk
    os.close(done_r)
    _, status = os.waitpid(helper, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SandboxError(f"cannot map ids into the user namespace: {message.decode(errors='replace')}")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    # mounts made here never propagate back to the machine's mount table
    L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)


def _write_maps(pid: int, tools: tuple[str, str], uid_args: list[str], gid_args: list[str], out: int) -> int:
    import subprocess

    for tool, args in zip(tools, (uid_args, gid_args), strict=True):
        run = subprocess.run([tool, str(pid), *args], capture_output=True, check=False)
        if run.returncode != 0:
            said = (run.stderr or run.stdout).decode(errors="replace").strip().splitlines()
            os.write(out, (said[-1] if said else f"{os.path.basename(tool)} exited {run.returncode}").encode())
            return 1
    return 0


@functools.lru_cache(maxsize=1)
def hostname_settable() -> bool:
    """Whether a step may set its hostname: the default seccomp profile of CRI-O and podman
    (containers-common) refuses sethostname without CAP_SYS_ADMIN, which a pod running pybuild
    rootless lacks; the step then keeps the pod's hostname. Probed once, in a throwaway child."""
    if not in_user_namespace():
        return True
    from pybuild.builder.sandbox import linux as L

    L.libc()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            L.unshare(L.CLONE_NEWUTS)
            L.sethostname("pybuild-probe")
            code = 0
        except OSError:
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@functools.lru_cache(maxsize=1)
def proc_mountable() -> bool:
    """Whether a step's PID namespace can have a procfs of its own. Inside a container whose
    /proc has masked paths (every pod's, unless procMount: Unmasked) the kernel refuses a new
    procfs to a user namespace, and steps get the container's /proc bound instead, masks kept
    (buildah's chroot isolation does the same). Probed once, in throwaway children."""
    if not in_user_namespace():
        return True
    from pybuild.builder.sandbox import linux as L

    L.libc()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: a PID namespace whose first child mounts proc
        code = 1
        try:
            L.unshare(L.CLONE_NEWNS | L.CLONE_NEWPID)
            L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
            inner = os.fork()
            if inner == 0:
                try:
                    L.mount("proc", "/proc", "proc", L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
                    os._exit(0)
                except OSError:
                    os._exit(1)
            code = os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1])
        except OSError:
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def exec_in_user_namespace(argv: list[str]) -> None:
    """``pybuild unshare``: replace this process by ``argv`` (default $SHELL, else /bin/sh) in
    pybuild's user namespace, where the store's files have their in-build owners and
    ``pybuild mount`` mounts stay visible. As real root it runs ``argv`` as it is."""
    enter_user_namespace()
    argv = argv or [os.environ.get("SHELL") or "/bin/sh"]
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        raise ConfigError(f"unshare: cannot run {argv[0]}: {e.strerror}") from None


__all__ = ["IdRange", "enter_user_namespace", "require_user_namespace", "exec_in_user_namespace", "hostname_settable",
           "proc_mountable", "missing_ids_error", "subordinate_ranges"]
