"""The platform pybuild runs on, in OCI spelling (GOARCH names)."""

from __future__ import annotations

import platform
from dataclasses import dataclass

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}
_VARIANT = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8", "arm64": "v8"}


@dataclass(frozen=True)
class HostPlatform:
    os: str
    architecture: str
    variant: str | None

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant and self.architecture == "arm" else s


def host_platform() -> HostPlatform:
    machine = platform.machine()
    return HostPlatform("linux", _ARCH.get(machine, machine), _VARIANT.get(machine))
