"""What a RUN step asks of the sandbox (RunSpec, Mount), and the mount points it needs.

The sandbox writes nothing into the rootfs: every path it mounts over must
already exist there. :func:`stub_paths` lists them so the working container can
supply them from a read-only layer of its own; :func:`check_stubs` refuses to
start when one is missing rather than creating it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pybuild.builder.paths import DEFAULT_PATH, resolve_in_root
from pybuild.builder.sandbox.caps import DEFAULT_CAPABILITIES
from pybuild.errors import SandboxError, UnsafeContentError
from pybuild.lazyre import lazy


@dataclass
class Mount:
    """An extra mount for a step: a bind of a host path or a fresh tmpfs.

    ``options``: tmpfs takes ``size`` and ``mode`` (also ``uid``, ``gid``,
    ``nr_inodes``); bind takes ``recursive`` ("true"/"false", default true)."""

    target: str
    source: str | None
    type: str  # "bind" | "tmpfs"
    readonly: bool = True
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class RunSpec:
    """Everything one RUN step needs; the caller has already resolved user and cwd."""

    rootfs: str
    argv: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = "pybuild"
    mounts: list[Mount] = field(default_factory=list)
    network: str = "host"  # "host" | "none" | "ns" (join ``netns``: a private network or ns:PATH)
    netns: str = ""  # the network namespace file a "ns" step joins
    capabilities: list[str] = field(default_factory=lambda: list(DEFAULT_CAPABILITIES))
    no_new_privileges: bool = False
    # "default" (containers-common's profile, as buildah), "unconfined", or a profile file's path
    seccomp: str = "default"
    hosts: str | None = ""  # full content of the step's /etc/hosts; None: the image's own (--no-hosts)
    resolv_conf: str | None = ""  # full content of the step's /etc/resolv.conf; None: the image's own (--dns none)
    output: Callable[[bytes], None] | None = None  # stdout+stderr chunks; None discards them
    stdin: bool = False  # False: /dev/null; True: the caller's standard input
    # where a runtime keeps its bundle and state (default: a temp dir); the store passes a
    # folder named after its process, so what a killed build left running can be reaped
    scratch_dir: str | None = None
    runtime: str | None = None  # oci isolation: the runtime's path (None: runc from PATH)


class Sandbox(Protocol):
    """What runs a RUN step: the real backends (the :mod:`pybuild.builder.sandbox` module
    itself) or a stand-in such as :class:`pybuild.builder.sandbox.fake.FakeSandbox`, so the
    executor can be driven without root."""

    def run(self, spec: RunSpec, isolation: str = "chroot") -> int: ...


# Paths a step always gets mounted over, with whether each is a directory.
BASE_STUBS: tuple[tuple[str, bool], ...] = (
    ("/proc", True), ("/sys", True), ("/dev", True),
    ("/etc/hosts", False), ("/etc/resolv.conf", False), ("/etc/hostname", False),
)

_TMPFS_KEYS = {"size", "mode", "uid", "gid", "nr_inodes"}
_OPTION_VALUE = lazy(r"^[0-9A-Za-z._%-]*$")


def _normal_target(target: str) -> str:
    if not target.startswith("/"):
        raise SandboxError(f"mount target {target!r} is not an absolute path")
    parts: list[str] = []
    for p in target.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            raise SandboxError(f"mount target {target!r} contains '..'")
        parts.append(p)
    if not parts:
        raise SandboxError("a mount target cannot be /")
    return "/" + "/".join(parts)


def etc_overrides(spec: RunSpec) -> list[tuple[str, str]]:
    """The files bind-mounted over the rootfs's /etc for a step: (name, content); hosts with
    --no-hosts and resolv.conf with --dns none are left as the image has them."""
    files = (("hosts", spec.hosts), ("resolv.conf", spec.resolv_conf), ("hostname", spec.hostname + "\n"))
    return [(name, content) for name, content in files if content is not None]


def stub_paths(spec: RunSpec) -> list[tuple[str, bool]]:
    """Mount points that must exist inside ``spec.rootfs``: (container path, is_dir)."""
    own = {f"/etc/{name}" for name, _ in etc_overrides(spec)}
    out = [s for s in BASE_STUBS if s[0] in own or not s[0].startswith("/etc/")]
    seen = {p for p, _ in out}
    for m in spec.mounts:
        target = _normal_target(m.target)
        if m.type == "tmpfs":
            is_dir = True
        elif m.source is not None:
            try:
                is_dir = stat.S_ISDIR(os.lstat(m.source).st_mode)
            except OSError:
                is_dir = True
        else:
            is_dir = True
        if target not in seen:
            seen.add(target)
            out.append((target, is_dir))
    return out


def check_stubs(spec: RunSpec, root: str) -> None:
    """Raise SandboxError naming the first mount point missing inside ``root``."""
    for path, is_dir in stub_paths(spec):
        try:
            host = resolve_in_root(root, path)
        except UnsafeContentError as e:
            raise SandboxError(f"mount point {path} cannot be resolved: {e}", where=spec.rootfs) from e
        try:
            st = os.stat(host)
        except OSError:
            raise SandboxError(f"mount point {path} is missing (the caller must supply it)",
                               where=spec.rootfs) from None
        if stat.S_ISDIR(st.st_mode) != is_dir:
            kind = "directory" if is_dir else "file"
            raise SandboxError(f"mount point {path} is not a {kind}", where=spec.rootfs)


def validate(spec: RunSpec) -> None:
    """Refuse a spec the sandbox cannot run faithfully, before anything is forked."""
    if not spec.argv:
        raise SandboxError("nothing to run: empty command")
    if spec.network not in ("host", "none", "ns"):
        raise SandboxError(f"network mode {spec.network!r} is not supported (host, none or ns)")
    if spec.network == "ns" and not os.path.exists(spec.netns):
        raise SandboxError(f"network namespace {spec.netns!r} does not exist")
    if not spec.cwd.startswith("/"):
        raise SandboxError(f"working directory {spec.cwd!r} is not absolute")
    if "\0" in spec.hostname or "/" in spec.hostname or len(spec.hostname.encode()) > 64:
        raise SandboxError(f"invalid hostname {spec.hostname!r}")
    for m in spec.mounts:
        _normal_target(m.target)
        if m.type == "tmpfs":
            for k, v in m.options.items():
                if k not in _TMPFS_KEYS or not _OPTION_VALUE.match(v):
                    raise SandboxError(f"tmpfs option {k}={v!r} is not allowed", where=m.target)
        elif m.type == "bind":
            if not m.source:
                raise SandboxError("a bind mount needs a source", where=m.target)
            try:
                st = os.lstat(m.source)
            except OSError as e:
                raise SandboxError(f"bind source {m.source} cannot be used: {e.strerror}", where=m.target) from e
            if stat.S_ISLNK(st.st_mode):
                raise SandboxError(f"bind source {m.source} is a symbolic link", where=m.target)
        else:
            raise SandboxError(f"mount type {m.type!r} is not supported (bind or tmpfs)", where=m.target)


def tmpfs_data(m: Mount) -> str:
    """The option string for a tmpfs Mount (validated keys and values only)."""
    return ",".join(f"{k}={v}" for k, v in sorted(m.options.items()) if k in _TMPFS_KEYS)


def sorted_mounts(mounts: list[Mount]) -> list[Mount]:
    """Shallow targets first, so a mount inside another lands on top of it."""
    return sorted(mounts, key=lambda m: _normal_target(m.target).count("/"))


def env_path(env: list[str]) -> str:
    """The PATH a step's command is looked up in: its own, or the usual default."""
    value = None
    for e in env:
        if e.startswith("PATH="):
            value = e[5:]
    return value if value is not None else DEFAULT_PATH


__all__ = ["Mount", "RunSpec", "BASE_STUBS", "stub_paths", "check_stubs", "validate", "tmpfs_data",
           "sorted_mounts", "env_path"]
