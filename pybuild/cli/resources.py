"""buildah's step-resource flags (--memory, --cpu-*, --ulimit, --shm-size, --device, --cgroupns),
shared by `bud` and `from`; read into one sandbox Resources by the library's parser."""

from __future__ import annotations

from typing import Any

import click

_KEY = "pybuild.resources"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value not in (None, ()):
        ctx.meta.setdefault(_KEY, {})[param.name] = value
    return value


# (declarations, name, click type, multiple, buildah's help)
_FLAGS: list[tuple[tuple[str, ...], str, Any, bool, str]] = [
    (("--cgroup-parent",), "cgroup_parent", None, False,
     "optional parent cgroup for the container (with --isolation oci)"),
    (("--cgroupns",), "cgroupns", None, False, "'private', or 'host'"),
    (("--cpu-period",), "cpu_period", click.IntRange(min=0), False,
     "limit the CPU CFS (Completely Fair Scheduler) period"),
    (("--cpu-quota",), "cpu_quota", int, False, "limit the CPU CFS (Completely Fair Scheduler) quota"),
    (("-c", "--cpu-shares"), "cpu_shares", click.IntRange(min=0), False, "CPU shares (relative weight)"),
    (("--cpuset-cpus",), "cpuset_cpus", None, False, "CPUs in which to allow execution (0-3, 0,1)"),
    (("--cpuset-mems",), "cpuset_mems", None, False,
     "memory nodes (MEMs) in which to allow execution (0-3, 0,1). Only effective on NUMA systems."),
    (("--device",), "devices", None, True,
     "additional devices to be used within containers: HOST[:CONTAINER][:rwm] (repeatable)"),
    (("-m", "--memory"), "memory", None, False,
     "memory limit (format: <number>[<unit>], where unit = b, k, m or g)"),
    (("--memory-swap",), "memory_swap", None, False,
     "swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    (("--shm-size",), "shm_size", None, False, "size of '/dev/shm'. The format is <number><unit>. (default 65536k)"),
    (("--ulimit",), "ulimits", None, True, "ulimit options NAME=SOFT[:HARD] (default: the limits pybuild has)"),
]


def resource_flags(f: Any) -> Any:
    """Add every resource flag to a command; read them with :func:`values`."""
    for decls, name, kind, multiple, help in reversed(_FLAGS):
        f = click.option(*decls, name, type=kind, multiple=multiple, default=None, expose_value=False,
                         callback=_remember, help=help)(f)
    return f


def cgroupns_flag(f: Any) -> Any:
    """`run` has only --cgroupns of these (as buildah's)."""
    return click.option("--cgroupns", "cgroupns", default=None, expose_value=False, callback=_remember,
                        help="'private', or 'host'")(f)


def values() -> dict[str, Any]:
    """The flag values as given: parse_resources' keywords, which the library checks (one line for a
    bad one) before anything is done, and `from` keeps for later runs."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in click.get_current_context().meta.get(_KEY, {}).items()}
