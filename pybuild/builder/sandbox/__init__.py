"""Isolation for RUN steps: the only code in pybuild that forks, unshares, mounts and pivots.

Two backends run the same :class:`RunSpec`:

- ``chroot`` (:mod:`.chroot`): namespaces and pivot_root done here, no runtime
  binary, a few milliseconds per step;
- ``oci`` (:mod:`.oci`): an OCI runtime bundle handed to ``runc``.

Neither writes into the rootfs: the caller provides every mount point listed by
:func:`stub_paths` (the working container supplies them from a read-only layer).
Both run a step under containers-common's default seccomp profile unless
``RunSpec.seccomp`` says otherwise (:mod:`.seccomp`; ``--security-opt`` is read by
:mod:`.security`).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from pybuild.errors import ROOTLESS_AS_ROOT, ConfigError

if TYPE_CHECKING:
    from pybuild.builder.sandbox.caps import DEFAULT_CAPABILITIES, apply_cap_changes
    from pybuild.builder.sandbox.resources import Resources
    from pybuild.builder.sandbox.spec import Mount, RunSpec, Sandbox, stub_paths
    from pybuild.builder.sandbox.users import resolve_user

ISOLATIONS = ("chroot", "oci")

# Re-exported names -> the submodule that defines them, imported on first use: importing any
# submodule (userns, which every command enters; resources, which bud's flags fill) runs this
# file, and a fully cached build runs no step, so it needs no RunSpec, capabilities or passwd
# reader (issue 19).
_LAZY = {"DEFAULT_CAPABILITIES": "caps", "apply_cap_changes": "caps", "Mount": "spec", "RunSpec": "spec",
         "Sandbox": "spec", "stub_paths": "spec", "resolve_user": "users"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # once: later lookups are plain
    return value


def run(spec: RunSpec, isolation: str = "chroot") -> int:
    """Run one step; return its exit status (128+N when killed by signal N).

    Raises SandboxError when the isolation cannot be set up; a command that is
    not found is status 127 with a message on ``spec.output``, as in buildah."""
    from pybuild.builder.sandbox.resources import check_host_limits, check_isolation
    from pybuild.builder.sandbox.userns import require_user_namespace

    require_user_namespace()
    isolation = resolve_isolation(isolation)
    check_host_limits(spec.resources)
    check_isolation(spec.resources, isolation)
    if isolation == "chroot":
        from pybuild.builder.sandbox.chroot import run_chroot

        if spec.runtime:
            raise ConfigError(f"--runtime {spec.runtime}: a runtime runs steps only with --isolation oci")

        return run_chroot(spec)
    if isolation == "oci":
        from pybuild.builder.sandbox.oci import run_oci

        return run_oci(spec)
    raise ConfigError(f"unknown isolation {isolation!r} (chroot or oci)", where="--isolation")


def choose_runtime(isolation: str | None, runtime: str | None) -> tuple[str | None, str | None]:
    """(isolation, runtime path) for an ``--isolation`` and ``--runtime`` pair, checked before
    any step runs: a runtime means oci isolation, and must exist."""
    if not runtime:
        return isolation, None
    if isolation == "chroot":
        raise ConfigError(f"--runtime {runtime}: a runtime runs steps only with --isolation oci")
    from pybuild.builder.sandbox.oci import runc_path

    return "oci", runc_path(runtime)


def resolve_isolation(isolation: str) -> str:
    """buildah's ``rootless`` is oci (runc, which finds itself in pybuild's user namespace and
    runs rootless) when pybuild is rootless; as real root there is no such thing to give."""
    if isolation != "rootless":
        return isolation
    from pybuild.rootless import is_rootless

    if not is_rootless():
        raise ConfigError(ROOTLESS_AS_ROOT, where="--isolation rootless")
    return "oci"


def default_isolation(resources: Resources | None = None) -> str:
    """``$PYBUILD_ISOLATION`` if set, else chroot (oci when ``resources`` ask for a
    --cgroup-parent, which only runc can place a step under). It confines a step as runc's default spec does
    (the same namespaces, masked and read-only /proc paths, seccomp profile and capabilities, and
    runc's device allow-list, kept by nodev mounts: sandbox/chroot.py) without starting a runtime,
    whose ``runc create`` alone costs ~50 ms of loading a seccomp filter for three ABIs.
    ``--isolation oci`` or ``--runtime`` runs steps under runc. (buildah's default is oci; the CLI
    reads $BUILDAH_ISOLATION before this.)"""
    env = os.environ.get("PYBUILD_ISOLATION", "").strip().lower()
    if env:
        if env not in ISOLATIONS:
            raise ConfigError(f"PYBUILD_ISOLATION={env!r} is not chroot or oci")
        return env
    return "oci" if resources is not None and resources.cgroup_parent else "chroot"


__all__ = ["Mount", "RunSpec", "Sandbox", "run", "default_isolation", "resolve_isolation", "choose_runtime", "stub_paths", "DEFAULT_CAPABILITIES",
           "apply_cap_changes", "resolve_user", "ISOLATIONS"]
