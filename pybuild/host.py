"""What this machine is and can do, for a caller choosing a platform or reporting one
(``pybuild version``, ``pybuild info``, buildah's ``--os/--arch/--variant``).

Public (re-exported by ``pybuild``); every import is inside a function, so that naming a
platform costs no more than the small ``platform_host`` module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def host_architecture() -> str:
    """This machine's architecture as images name it (``amd64``, ``arm64``...)."""
    from pybuild.oci.platform_host import host_platform

    return host_platform().architecture


def platform_of(platform: str | None, os: str | None = None, arch: str | None = None,
                variant: str | None = None) -> str | None:
    """The platform buildah's flags name: ``platform``, or ``os``/``arch``/``variant`` (the
    host's OS and architecture where one is left out); both at once is one ConfigError line."""
    if not (os or arch or variant):
        return platform
    from pybuild.errors import ConfigError

    if platform:
        raise ConfigError("give --platform or --os/--arch/--variant, not both")
    return "/".join(p for p in (os or "linux", arch or host_architecture(), variant) if p)


def system_info(root: str, open_store: Callable[[], Any]) -> dict[str, Any]:
    """What ``pybuild info`` prints: the host (platform, kernel, isolation, network, rootless
    state, the platforms RUN steps can run for) and the store at ``root``.

    ``open_store`` is called first (the command line's enters pybuild's user namespace, where
    the rest is probed); a store that cannot be opened is reported under ``store.Error``."""
    import platform as host
    import sys

    import pybuild
    from pybuild.builder.sandbox.network import describe_default
    from pybuild.oci.platform_host import host_platform, runnable_platforms

    store: dict[str, object] = {"GraphRoot": root}
    try:
        store.update(open_store().info())
    except Exception as e:  # noqa: BLE001 - info reports what it can
        store["Error"] = str(e)
    isolation = "unknown"
    try:
        from pybuild.builder.sandbox import default_isolation

        isolation = default_isolation()
    except ImportError:
        pass
    hp = host_platform()
    return {
        "host": {"os": "linux", "arch": hp.architecture, "variant": hp.variant or "",
                 "kernel": host.release(), "python": sys.version.split()[0],
                 "DefaultIsolation": isolation, **describe_default(), **pybuild.describe_rootless(),
                 # what bud --platform can build RUN steps for: native, or a binfmt_misc handler (F flag)
                 "platforms": runnable_platforms()},
        "store": store,
        "version": pybuild.__version__,
    }


__all__ = ["host_architecture", "platform_of", "system_info"]
