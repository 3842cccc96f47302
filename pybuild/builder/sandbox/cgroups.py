"""A cgroup of pybuild's own for one chroot-isolated step (oci steps get runc's).

Probed, not assumed: cgroup v2 when /sys/fs/cgroup/cgroup.controllers exists (one
hierarchy), else v1 (a hierarchy per controller: memory, cpu, cpuset mounted under
/sys/fs/cgroup/NAME). The step's cgroup is made below the cgroup pybuild itself is in
(/proc/self/cgroup), so it nests inside whatever limits pybuild already runs under, and is
named ``pybuild-<pid>-<random>``: a build killed mid-step leaves an empty cgroup behind, and
the next one made beside it removes those whose process is gone (never another live one's). The limits are written before any process joins; the step's
first process joins by writing ``0`` to each ``cgroup.procs`` (it moves itself, so nothing
it forks escapes), and the cgroup is removed when the step has ended.

v1 and v2 spell the same limits differently: ``memory.limit_in_bytes`` / ``memory.max``,
``memory.memsw.limit_in_bytes`` (memory+swap) / ``memory.swap.max`` (swap alone),
``cpu.shares`` / ``cpu.weight`` (runc's conversion), ``cpu.cfs_quota_us`` + ``cpu.cfs_period_us``
/ ``cpu.max``; a v1 cpuset starts empty, so its cpus and mems are copied from the parent.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator

from pybuild.builder.sandbox.resources import Resources
from pybuild.errors import SandboxError

ROOT = "/sys/fs/cgroup"
_RMDIR_TRIES = 250  # (5 s) a step's last processes take a moment to leave once PID 1 is gone (an OOM kill longer)


class StepCgroup:
    """The directories made for one step; ``procs`` are the files its first process writes.
    (A plain class: a dataclass costs more to make at import than a step uses it.)"""

    def __init__(self, version: int) -> None:
        self.version = version
        self.dirs: dict[str, str] = {}  # controller (v1) or "" (v2) -> host dir

    @property
    def procs(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def views(self) -> list[tuple[str, str]]:
        """(path under /sys/fs/cgroup in the step, host dir) for the step's read-only view."""
        return [(name, d) for name, d in self.dirs.items()]


def version(root: str = ROOT) -> int:
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


def _own_paths(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """controller -> this process's cgroup path (v2's single line under "")."""
    out: dict[str, str] = {}
    with open(proc_cgroup, encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(value)
    except OSError as e:
        raise SandboxError(f"cgroup: cannot write {value!r} to {path}: {e.strerror}") from None


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def _v1_controllers(r: Resources) -> list[str]:
    wanted = []
    if r.memory is not None or r.memory_swap is not None:
        wanted.append("memory")
    if r.cpu_shares is not None or r.cpu_period is not None or r.cpu_quota is not None:
        wanted.append("cpu")
    if r.cpuset_cpus is not None or r.cpuset_mems is not None:
        wanted.append("cpuset")
    return wanted


def _write_v1(controller: str, d: str, parent: str, r: Resources) -> None:
    if controller == "memory":
        if r.memory is not None:
            _write(os.path.join(d, "memory.limit_in_bytes"), str(r.memory))
        if r.memory_swap is not None:
            swap = os.path.join(d, "memory.memsw.limit_in_bytes")
            if not os.path.exists(swap):
                raise SandboxError("--memory-swap: this kernel keeps no swap accounting (memory.memsw files)")
            _write(swap, str(r.memory_swap))
    elif controller == "cpu":
        if r.cpu_shares is not None:
            _write(os.path.join(d, "cpu.shares"), str(r.cpu_shares))
        if r.cpu_period is not None:
            _write(os.path.join(d, "cpu.cfs_period_us"), str(r.cpu_period))
        if r.cpu_quota is not None:
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(r.cpu_quota))
    elif controller == "cpuset":
        # a new v1 cpuset has no cpus and no mems: no process could join it
        _write(os.path.join(d, "cpuset.cpus"), r.cpuset_cpus or _read(os.path.join(parent, "cpuset.cpus")))
        _write(os.path.join(d, "cpuset.mems"), r.cpuset_mems or _read(os.path.join(parent, "cpuset.mems")))


def cpu_weight(shares: int) -> int:
    """runc's v1 shares -> v2 weight: [2, 262144] onto [1, 10000]."""
    return 1 + ((shares - 2) * 9999) // 262142


def _write_v2(d: str, r: Resources) -> None:
    if r.memory is not None:
        _write(os.path.join(d, "memory.max"), str(r.memory))
    if r.memory_swap is not None:
        swap = "max" if r.memory_swap == -1 else str(r.memory_swap - (r.memory or 0))
        _write(os.path.join(d, "memory.swap.max"), swap)
    if r.cpu_shares is not None:
        _write(os.path.join(d, "cpu.weight"), str(cpu_weight(r.cpu_shares)))
    if r.cpu_quota is not None or r.cpu_period is not None:
        quota = "max" if r.cpu_quota in (None, -1) else str(r.cpu_quota)
        _write(os.path.join(d, "cpu.max"), f"{quota} {r.cpu_period or 100000}")
    if r.cpuset_cpus is not None:
        _write(os.path.join(d, "cpuset.cpus"), r.cpuset_cpus)
    if r.cpuset_mems is not None:
        _write(os.path.join(d, "cpuset.mems"), r.cpuset_mems)


def _v2_controllers(r: Resources) -> list[str]:
    return [c for c, on in (("memory", r.memory is not None or r.memory_swap is not None),
                            ("cpu", r.cpu_shares is not None or r.cpu_period is not None or r.cpu_quota is not None),
                            ("cpuset", r.cpuset_cpus is not None or r.cpuset_mems is not None)) if on]


def _enable_v2(parent: str, controllers: list[str]) -> None:
    """Turn the controllers on for ``parent``'s children (v2's subtree_control)."""
    have = set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
    missing = [c for c in controllers if c not in have]
    if not missing:
        return
    try:
        with open(os.path.join(parent, "cgroup.subtree_control"), "w", encoding="ascii") as f:
            f.write(" ".join("+" + c for c in missing))
    except OSError as e:
        hint = (" (v2 forbids that in a cgroup holding processes: run pybuild in a cgroup of its own, or use "
                "--isolation oci)") if e.errno == errno.EBUSY else ""
        raise SandboxError(f"cgroup: cannot enable {', '.join(missing)} under {parent}: {e.strerror}{hint}") from None


def create(r: Resources, *, root: str = ROOT, proc_cgroup: str = "/proc/self/cgroup") -> StepCgroup:
    """Make the step's cgroup(s) with ``r``'s limits written; nothing has joined yet."""
    name = f"pybuild-{os.getpid()}-{secrets.token_hex(6)}"
    own = _own_paths(proc_cgroup)
    made = StepCgroup(version(root))
    try:
        if made.version == 2:
            parent = os.path.join(root, own.get("", "/").lstrip("/"))
            _sweep(parent)
            _enable_v2(parent, _v2_controllers(r))
            d = os.path.join(parent, name)
            os.mkdir(d, 0o755)
            made.dirs[""] = d
            _write_v2(d, r)
            return made
        for controller in _v1_controllers(r):
            base = os.path.join(root, controller)
            if not os.path.isdir(base):
                raise SandboxError(f"cgroup: the {controller} controller is not mounted at {base}")
            parent = os.path.join(base, own.get(controller, "/").lstrip("/"))
            _sweep(parent)
            d = os.path.join(parent, name)
            os.mkdir(d, 0o755)
            made.dirs[controller] = d
            _write_v1(controller, d, parent, r)
        return made
    except OSError as e:
        remove(made)
        raise SandboxError(f"cgroup: cannot make the step's cgroup: {e.strerror} ({e.filename})") from None
    except BaseException:
        remove(made)
        raise


def _sweep(parent: str) -> None:
    """rmdir the step cgroups under ``parent`` whose pybuild process is dead (a killed build's)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for entry in names:
        parts = entry.split("-")
        if len(parts) != 3 or parts[0] != "pybuild" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
            continue  # alive (or another's pid now): not ours to touch
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(parent, entry))  # fails, harmlessly, while anything is still inside


def remove(cg: StepCgroup) -> None:
    """rmdir each of the step's cgroups, waiting (bounded) for its last processes to go."""
    for d in cg.dirs.values():
        for _ in range(_RMDIR_TRIES):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    break
                time.sleep(0.02)


@contextlib.contextmanager
def step_cgroup(r: Resources) -> Iterator[StepCgroup | None]:
    """The step's cgroup while it runs (None when ``r`` asks for no cgroup limit)."""
    if not r.wants_cgroup():
        yield None
        return
    cg = create(r)
    try:
        yield cg
    finally:
        remove(cg)


__all__ = ["StepCgroup", "create", "remove", "step_cgroup", "version", "cpu_weight"]
