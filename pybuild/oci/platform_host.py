"""The platforms this machine can run, in OCI spelling (GOARCH names).

A build for another architecture needs its RUN steps to execute: natively, or through a
binfmt_misc handler registered with the F flag (the kernel opens the interpreter, such as
qemu-user-static, when the handler is registered, so it works inside a chroot or a runc
container without the interpreter being in the image). ``runnable_platforms()`` reads
/proc/sys/fs/binfmt_misc to say which; ``check_runnable()`` refuses the others with one line.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybuild.errors import ConfigError

if TYPE_CHECKING:
    from pybuild.oci.spec import Platform

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}
_VARIANT = {"armv7l": "v7", "armv6l": "v6", "aarch64": "v8", "arm64": "v8"}
# the architectures an image may name (GOARCH), and the variants containerd knows for them
KNOWN_ARCHES = {"amd64": (None, "v1", "v2", "v3", "v4"), "arm64": (None, "v8", "v9"),
                "arm": (None, "v5", "v6", "v7", "v8"), "386": (None,), "ppc64le": (None,),
                "ppc64": (None,), "s390x": (None,), "riscv64": (None,), "mips64le": (None,),
                "mips64": (None,), "mipsle": (None,), "mips": (None,), "loong64": (None,)}
# ELF e_machine (with class and byte order) -> GOARCH: what a binfmt_misc ELF magic runs
_ELF_MACHINE = {(0x3E, 2, 1): "amd64", (0xB7, 2, 1): "arm64", (0x28, 1, 1): "arm", (0x03, 1, 1): "386",
                (0x15, 2, 1): "ppc64le", (0x15, 2, 2): "ppc64", (0x16, 2, 2): "s390x",
                (0xF3, 2, 1): "riscv64", (0x08, 2, 1): "mips64le", (0x08, 2, 2): "mips64",
                (0x08, 1, 1): "mipsle", (0x08, 1, 2): "mips", (0x102, 2, 1): "loong64"}
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
HOW_TO_ENABLE = ("install qemu-user-static (apt-get install qemu-user-static) and register it in "
                 "binfmt_misc with the F flag (systemctl restart systemd-binfmt)")


@dataclass(frozen=True)
class HostPlatform:
    """The platform this machine runs natively (os/arch/variant)."""

    os: str
    architecture: str
    variant: str | None

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant and self.architecture == "arm" else s


def host_platform() -> HostPlatform:
    machine = platform.machine()
    return HostPlatform("linux", _ARCH.get(machine, machine), _VARIANT.get(machine))


def parse_platform(text: str, where: str = "platform") -> Platform:
    """``OS/ARCH[/VARIANT]`` checked against the names images use: one line when it is not one."""
    from pybuild.oci.spec import Platform

    p = Platform.parse(text)
    if p.os != "linux":
        raise ConfigError(f"{where} {text}: only linux images can be built (not {p.os})")
    variants = KNOWN_ARCHES.get(p.architecture)
    if variants is None:
        raise ConfigError(f"{where} {text}: unknown architecture {p.architecture!r} "
                          f"(known: {', '.join(sorted(KNOWN_ARCHES))})")
    if p.variant not in variants:
        known = ", ".join(v for v in variants if v) or "none"
        raise ConfigError(f"{where} {text}: unknown variant {p.variant!r} for {p.architecture} (known: {known})")
    return p


def config_platform(config: Any) -> Platform:
    """The platform an image config names (an ImageConfig; os defaults to linux)."""
    from pybuild.oci.spec import Platform

    return Platform(config.os or "linux", config.architecture or "", config.variant or None)


def _binfmt_arches(root: str = BINFMT_DIR) -> set[str]:
    """Architectures an enabled binfmt_misc handler with the F flag runs (F: works in a chroot)."""
    out: set[str] = set()
    try:
        names = os.listdir(root)
    except OSError:
        return out
    for name in names:
        if name in ("register", "status"):
            continue
        try:
            with open(os.path.join(root, name)) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        fields = {k: v for k, _, v in (line.partition(" ") for line in lines)}
        if "enabled" not in fields or "F" not in fields.get("flags:", ""):
            continue
        arch = _elf_arch(fields.get("magic", ""), fields.get("offset", "0"))
        if arch:
            out.add(arch)
    return out


def _elf_arch(magic_hex: str, offset: str) -> str | None:
    try:
        magic = bytes.fromhex(magic_hex)
    except ValueError:
        return None
    if offset.strip() != "0" or len(magic) < 20 or not magic.startswith(b"\x7fELF"):
        return None
    machine = int.from_bytes(magic[18:20], "little" if magic[5] == 1 else "big")
    return _ELF_MACHINE.get((machine, magic[4], magic[5]))


def runnable_platforms(binfmt_dir: str = BINFMT_DIR) -> list[str]:
    """The platforms whose binaries run here: the host's (and 386 on amd64), then emulated ones."""
    host = host_platform().architecture
    native = {host} | ({"386"} if host == "amd64" else set()) | ({"arm"} if host == "arm64" else set())
    arches = [host, *sorted((native | _binfmt_arches(binfmt_dir)) - {host})]
    return [f"linux/{a}" for a in arches]


def can_run(p: Platform, binfmt_dir: str = BINFMT_DIR) -> bool:
    return p.os == "linux" and f"linux/{p.architecture}" in runnable_platforms(binfmt_dir)


def check_runnable(p: Platform, why: str, binfmt_dir: str = BINFMT_DIR, *, where: str | None = None) -> None:
    """Refuse, in one line, a platform whose binaries this kernel cannot execute."""
    if not can_run(p, binfmt_dir):
        raise ConfigError(f"platform {p} cannot run here (for {why}; runnable: "
                          f"{', '.join(runnable_platforms(binfmt_dir))}): {HOW_TO_ENABLE}", where=where)
