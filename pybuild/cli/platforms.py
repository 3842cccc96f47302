"""buildah's --os, --arch and --variant: another spelling of --platform OS/ARCH[/VARIANT]."""

from __future__ import annotations

from pybuild.errors import ConfigError


def platform_of(platform: str | None, os_: str | None, arch: str | None, variant: str | None) -> str | None:
    """The platform the flags name: --platform, or --os/--arch/--variant (the host's OS and
    architecture where one is left out); both at once is a mistake worth one line."""
    if not (os_ or arch or variant):
        return platform
    if platform:
        raise ConfigError("give --platform or --os/--arch/--variant, not both")
    from pybuild.oci.platform_host import host_platform

    return "/".join(p for p in (os_ or "linux", arch or host_platform().architecture, variant) if p)
