"""What a RUN step may use: cgroup limits, rlimits, /dev/shm's size, host devices, cgroupns.

Values are read as buildah reads them (go-units): ``--memory 512m`` is binary (512 MiB),
``--ulimit nofile=1024:2048`` is soft:hard (one number: both; ``-1`` or ``unlimited``:
no limit), ``--device /dev/fuse[:/dev/fuse][:rwm]``. Every check is made here, before a
step runs: a bad value is one line naming the flag.

Both isolations honour the same :class:`Resources`: oci writes them into the runtime spec
(``linux.resources``, ``process.rlimits``, ``linux.devices``) and runc makes the cgroup;
chroot makes a cgroup of its own (:mod:`.cgroups`, v1 or v2 as the host has), calls
setrlimit, and binds the device nodes into the step's /dev. Where the step has a cgroup
of pybuild's asking, its own cgroup files are visible read-only at /sys/fs/cgroup, as
under runc.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from pybuild.errors import ConfigError
from pybuild.lazyre import lazy
from pybuild.values import Value

DEFAULT_SHM = 65536 * 1024  # buildah's default --shm-size (65536k)

# go-units' ulimit names -> the RLIMIT_ constant (the runtime spec's names)
ULIMITS = {"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
           "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
           "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
           "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
           "stack": "RLIMIT_STACK"}
UNLIMITED = (1 << 64) - 1  # RLIM_INFINITY as the runtime spec writes it

_RAM = lazy(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
_CPUSET = lazy(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class Ulimit(Value):
    """One --ulimit: a resource's soft and hard limit."""

    __slots__ = _FIELDS = ("name", "soft", "hard")

    def __init__(self, name: str, soft: int, hard: int) -> None:
        self.name = name  # go-units' name (nofile)
        self.soft = soft  # UNLIMITED for none
        self.hard = hard

    @property
    def rlimit(self) -> str:
        return ULIMITS[self.name]


class Device(Value):
    """A host device node given to a step: where it is, where the step sees it, rwm."""

    __slots__ = _FIELDS = ("source", "target", "access", "kind", "major", "minor", "mode")

    def __init__(self, source: str, target: str, access: str = "rwm", kind: str = "c", major: int = 0,
                 minor: int = 0, mode: int = 0o666) -> None:
        self.source, self.target, self.access, self.kind = source, target, access, kind  # kind: c | b
        self.major, self.minor, self.mode = major, minor, mode


class Resources(Value):
    """A step's --memory/--cpu*/--pids-limit/--ulimit/--device values, as the sandbox applies them."""

    __slots__ = _FIELDS = ("memory", "memory_swap", "cpu_shares", "cpu_period", "cpu_quota", "cpuset_cpus", "cpuset_mems",
                 "ulimits", "shm_size", "devices", "cgroupns", "cgroup_parent")
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, memory: int | None = None, memory_swap: int | None = None, cpu_shares: int | None = None,
                 cpu_period: int | None = None, cpu_quota: int | None = None, cpuset_cpus: str | None = None,
                 cpuset_mems: str | None = None, ulimits: list[Ulimit] | None = None, shm_size: int = DEFAULT_SHM,
                 devices: list[Device] | None = None, cgroupns: str = "host",
                 cgroup_parent: str | None = None) -> None:
        self.memory = memory  # bytes
        self.memory_swap = memory_swap  # memory + swap, bytes; -1: unlimited swap
        self.cpu_shares = cpu_shares
        self.cpu_period = cpu_period  # microseconds
        self.cpu_quota = cpu_quota  # microseconds per period
        self.cpuset_cpus = cpuset_cpus
        self.cpuset_mems = cpuset_mems
        self.ulimits: list[Ulimit] = [] if ulimits is None else ulimits
        self.shm_size = shm_size
        self.devices: list[Device] = [] if devices is None else devices
        self.cgroupns = cgroupns  # host | private
        self.cgroup_parent = cgroup_parent  # --cgroup-parent: runc makes the step's cgroup below it (oci only)

    def wants_cgroup(self) -> bool:
        """True when a limit needs a cgroup of the step's own."""
        return any(v is not None for v in (self.memory, self.memory_swap, self.cpu_shares, self.cpu_period,
                                           self.cpu_quota, self.cpuset_cpus, self.cpuset_mems))

    def cache_key(self) -> dict[str, Any] | None:
        """What of these enters a RUN's cache key (None when all are defaults, so older keys
        stay valid): a step's output can depend on its limits (a build that probes nproc)."""
        if not (self.wants_cgroup() or self.ulimits or self.devices or self.shm_size != DEFAULT_SHM
                or self.cgroupns != "host"):
            return None
        return {"memory": [self.memory, self.memory_swap],
                "cpu": [self.cpu_shares, self.cpu_period, self.cpu_quota, self.cpuset_cpus, self.cpuset_mems],
                "ulimits": [[u.name, u.soft, u.hard] for u in self.ulimits], "shm": self.shm_size,
                # a device by what the step sees (no host path enters a key)
                "devices": [[d.target, d.kind, d.major, d.minor, d.access] for d in self.devices],
                "cgroupns": self.cgroupns}

    def spec_resources(self) -> dict[str, Any]:
        """The runtime spec's ``linux.resources`` fields for the limits (devices apart)."""
        out: dict[str, Any] = {}
        memory: dict[str, Any] = {}
        if self.memory is not None:
            memory["limit"] = self.memory
        if self.memory_swap is not None:
            memory["swap"] = self.memory_swap
        if memory:
            out["memory"] = memory
        cpu: dict[str, Any] = {}
        for key, value in (("shares", self.cpu_shares), ("period", self.cpu_period), ("quota", self.cpu_quota),
                           ("cpus", self.cpuset_cpus), ("mems", self.cpuset_mems)):
            if value is not None:
                cpu[key] = value
        if cpu:
            out["cpu"] = cpu
        return out

    def spec_rlimits(self) -> list[dict[str, Any]]:
        return [{"type": u.rlimit, "soft": u.soft, "hard": u.hard} for u in self.ulimits]


def _has_cap_sys_resource() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return False
    return bool(eff >> 24 & 1)  # CAP_SYS_RESOURCE


def check_host_limits(r: Resources) -> None:
    """A --ulimit above this process's hard limit needs CAP_SYS_RESOURCE: without it, one line
    before the step starts (runc and setrlimit would only say "operation not permitted")."""
    if r.wants_cgroup():
        _check_rootless_cgroup()
    if not r.ulimits or _has_cap_sys_resource():
        return
    import resource

    for u in r.ulimits:
        _, hard = resource.getrlimit(getattr(resource, u.rlimit))
        have = UNLIMITED if hard == resource.RLIM_INFINITY else hard
        if u.hard > have:
            shown = "unlimited" if u.hard == UNLIMITED else str(u.hard)
            raise ConfigError(f"--ulimit {u.name}: a hard limit of {shown} is above this host's ({have}); "
                              "raising it needs CAP_SYS_RESOURCE, which pybuild does not have here")


def parse_ram(text: str, flag: str) -> int:
    """go-units RAMInBytes: ``512``, ``512k``, ``1.5g``, ``64MiB`` (binary units)."""
    m = _RAM.match(text.strip())
    if not m:
        raise ConfigError(f"{flag} {text}: invalid size (use <number>[<unit>], unit b, k, m or g)")
    value = float(m.group(1)) * 1024 ** " kmgtp".index((m.group(2) or " ").lower())
    return int(value)


def parse_ulimit(text: str) -> Ulimit:
    """``NAME=SOFT[:HARD]``; -1 (or unlimited) means no limit."""
    name, sep, values = text.partition("=")
    if not sep or name not in ULIMITS:
        raise ConfigError(f"--ulimit {text}: use NAME=SOFT[:HARD] with NAME one of {', '.join(sorted(ULIMITS))}")
    parts = values.split(":")
    if len(parts) > 2 or not all(parts):
        raise ConfigError(f"--ulimit {text}: use NAME=SOFT[:HARD]")
    try:
        nums = [UNLIMITED if p in ("-1", "unlimited") else int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--ulimit {text}: limits are whole numbers (or -1 for unlimited)") from None
    soft, hard = nums[0], nums[-1]
    if soft < 0 or hard < 0:
        raise ConfigError(f"--ulimit {text}: limits are whole numbers (or -1 for unlimited)")
    if soft > hard:
        raise ConfigError(f"--ulimit {text}: the soft limit is above the hard limit")
    return Ulimit(name, soft, hard)


def parse_device(text: str) -> Device:
    """``HOST[:CONTAINER][:PERMISSIONS]`` as buildah: the host node must be a device."""
    parts = text.split(":")
    access = "rwm"
    if len(parts) > 1 and re.fullmatch(r"[rwm]{1,3}", parts[-1]):
        access = parts.pop()
    if len(parts) > 2 or not parts[0]:
        raise ConfigError(f"--device {text}: use HOST[:CONTAINER][:PERMISSIONS]")
    source = parts[0]
    target = parts[1] if len(parts) == 2 else source
    if not source.startswith("/") or not target.startswith("/dev/") or ".." in target.split("/"):
        raise ConfigError(f"--device {text}: the host path must be absolute and the container path below /dev/")
    if len(set(access)) != len(access):
        raise ConfigError(f"--device {text}: permissions are some of r, w and m, once each")
    try:
        st = os.stat(source)
    except OSError as e:
        raise ConfigError(f"--device {text}: {source}: {e.strerror}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise ConfigError(f"--device {text}: {source} is not a device node")
    return Device(source, target, access, "c" if stat.S_ISCHR(st.st_mode) else "b", os.major(st.st_rdev),
                  os.minor(st.st_rdev), stat.S_IMODE(st.st_mode))


def parse_resources(*, memory: str | None = None, memory_swap: str | None = None, cpu_shares: int | None = None,
                    cpu_period: int | None = None, cpu_quota: int | None = None, cpuset_cpus: str | None = None,
                    cpuset_mems: str | None = None, ulimits: list[str] | tuple[str, ...] = (),
                    shm_size: str | None = None, devices: list[str] | tuple[str, ...] = (),
                    cgroupns: str | None = None, cgroup_parent: str | None = None) -> Resources:
    """Resources from buildah's flag values, every one checked (ConfigError names the flag)."""
    r = Resources()
    if memory is not None:
        r.memory = parse_ram(memory, "--memory")
        if r.memory < 6 * 1024 * 1024:
            raise ConfigError(f"--memory {memory}: the minimum memory limit is 6m (as runc's)")
    if memory_swap is not None:
        r.memory_swap = -1 if memory_swap.strip() == "-1" else parse_ram(memory_swap, "--memory-swap")
        if r.memory is None:
            raise ConfigError("--memory-swap needs --memory as well (swap is counted on top of it)")
        if r.memory_swap != -1 and r.memory_swap < r.memory:
            raise ConfigError(f"--memory-swap {memory_swap}: it counts memory plus swap, so it must be at least "
                              "--memory")
    if cpu_shares is not None:
        if cpu_shares < 2:
            raise ConfigError(f"--cpu-shares {cpu_shares}: at least 2")
        r.cpu_shares = cpu_shares
    if cpu_period is not None:
        if not 1000 <= cpu_period <= 1000000:
            raise ConfigError(f"--cpu-period {cpu_period}: between 1000 and 1000000 microseconds")
        r.cpu_period = cpu_period
    if cpu_quota is not None:
        if cpu_quota < 1000 and cpu_quota != -1:
            raise ConfigError(f"--cpu-quota {cpu_quota}: at least 1000 microseconds (or -1: none)")
        r.cpu_quota = cpu_quota
    for flag, value in (("--cpuset-cpus", cpuset_cpus), ("--cpuset-mems", cpuset_mems)):
        if value is not None and not _CPUSET.match(value):
            raise ConfigError(f"{flag} {value}: a list such as 0-3 or 0,1")
    r.cpuset_cpus, r.cpuset_mems = cpuset_cpus, cpuset_mems
    seen: dict[str, Ulimit] = {}
    for text in ulimits:
        u = parse_ulimit(text)
        seen[u.name] = u  # a later one wins, as buildah's map does
    r.ulimits = list(seen.values())
    if shm_size is not None:
        r.shm_size = parse_ram(shm_size, "--shm-size")
        if r.shm_size <= 0:
            raise ConfigError(f"--shm-size {shm_size}: must be more than zero")
    r.devices = [parse_device(d) for d in devices]
    if cgroupns not in (None, "", "host", "private"):
        raise ConfigError(f"--cgroupns {cgroupns}: 'private' or 'host'")
    r.cgroupns = cgroupns or "host"
    if cgroup_parent is not None:
        parts = cgroup_parent.split("/")
        if not cgroup_parent.startswith("/") or ".." in parts or cgroup_parent.strip("/") == "":
            raise ConfigError(f"--cgroup-parent {cgroup_parent}: an absolute cgroup path such as /builds "
                              "(the cgroupfs manager's spelling)")
        r.cgroup_parent = "/" + "/".join(p for p in parts if p)
    return r


def _check_rootless_cgroup() -> None:
    """Limits rootless need a cgroup v2 subtree the user may write (systemd delegates one to a
    user's session); without it one line, before runc or the chroot child says less."""
    from pybuild.rootless import is_rootless

    if not is_rootless():
        return
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    if len(lines) == 1 and lines[0].startswith("0::") and os.access("/sys/fs/cgroup" + lines[0][3:], os.W_OK):
        return
    raise ConfigError("--memory/--cpu-*: rootless, and no cgroup this user may write here (limits need a "
                      "delegated cgroup v2 subtree, as systemd gives a user's session)")


def check_isolation(r: Resources, isolation: str) -> None:
    """What only one isolation can do: --cgroup-parent is runc's cgroupsPath."""
    if r.cgroup_parent and isolation != "oci":
        raise ConfigError(f"--cgroup-parent {r.cgroup_parent}: only with --isolation oci (runc places the step "
                          "there; chroot isolation makes its cgroup below pybuild's own)")


__all__ = ["Resources", "Ulimit", "Device", "parse_resources", "check_host_limits", "check_isolation", "parse_ram", "parse_ulimit", "parse_device",
           "DEFAULT_SHM", "ULIMITS", "UNLIMITED"]
