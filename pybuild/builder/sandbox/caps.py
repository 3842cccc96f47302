"""Linux capabilities by name: the default set, --cap-add/--cap-drop, and bit masks.

Names are kept in the ``CAP_X`` spelling of the OCI runtime spec; a user may
write ``sys_admin`` or ``CAP_SYS_ADMIN``. The default set is buildah's (its
containers.conf ``default_capabilities``), so a step sees what it would see
under ``buildah bud``.
"""

from __future__ import annotations

import functools

from pybuild.errors import ConfigError

# Index = capability number (linux/capability.h).
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
_NUMBER = {name: i for i, name in enumerate(CAPABILITY_NAMES)}

DEFAULT_CAPABILITIES: list[str] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
]


def normalize(name: str) -> str:
    """``sys_admin`` / ``CAP_SYS_ADMIN`` -> ``CAP_SYS_ADMIN``; ``all`` -> ``ALL``; unknown -> ConfigError."""
    n = name.strip().upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in _NUMBER:
        raise ConfigError(f"unknown capability {name!r}", where="--cap-add/--cap-drop")
    return n


def number(name: str) -> int:
    """The kernel's number for a capability name."""
    return _NUMBER[normalize(name)]


def apply_cap_changes(base: list[str], add: list[str], drop: list[str]) -> list[str]:
    """``base`` with --cap-add and --cap-drop applied, buildah's way.

    ``ALL`` in ``add`` starts from every known capability, ``ALL`` in ``drop``
    from none; explicit names are then added, and dropped last. The result is
    ordered by capability number."""
    add_n = [normalize(a) for a in add]
    drop_n = [normalize(d) for d in drop]
    if "ALL" in add_n and "ALL" in drop_n:
        raise ConfigError("cannot both add and drop ALL capabilities", where="--cap-add/--cap-drop")
    if "ALL" in add_n:
        result = set(CAPABILITY_NAMES)
    elif "ALL" in drop_n:
        result = set()
    else:
        result = {normalize(b) for b in base}
    result |= {a for a in add_n if a != "ALL"}
    result -= {d for d in drop_n if d != "ALL"}
    return sorted(result, key=_NUMBER.__getitem__)


def mask(names: list[str]) -> int:
    """The kernel bit mask of a capability list (as /proc/PID/status shows it)."""
    m = 0
    for n in names:
        m |= 1 << number(n)
    return m


def names_of(bits: int) -> list[str]:
    """The names of the known capabilities set in ``bits``."""
    return [n for i, n in enumerate(CAPABILITY_NAMES) if bits >> i & 1]


@functools.lru_cache(maxsize=1)
def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return len(CAPABILITY_NAMES) - 1


@functools.lru_cache(maxsize=1)
def current_bounding() -> int:
    """This process's bounding set (read once): a step can never hold more."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << (last_cap() + 1)) - 1


__all__ = ["CAPABILITY_NAMES", "DEFAULT_CAPABILITIES", "apply_cap_changes", "normalize", "number", "mask",
           "names_of", "last_cap", "current_bounding"]
