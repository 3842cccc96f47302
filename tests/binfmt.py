"""qemu-aarch64 in binfmt_misc and Debian's arm64 busybox, without pytest: the multi-platform
tests (tests/platform_helpers.py turns a refusal into a skip) and the benchmarks' arm64 case
share them. Registering a handler changes the machine: :func:`aarch64_binfmt` removes what
it added when its block ends."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64 = "/usr/bin/qemu-aarch64-static"
# Debian's name for it that tells qemu the kernel preserves argv[0] (the P flag): busybox
# applets reached through symlinks (`ls | wc -l`) need their own name as argv[0]
QEMU_AARCH64_P = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
# the ELF header of an aarch64 executable, as Debian's qemu-user-static registers it
AARCH64_MAGIC = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
CACHE = Path("/var/tmp/pybuild-test-cache")


class Unavailable(Exception):
    """This machine cannot give what was asked (the message says why and how to enable it)."""


def _aarch64_handler() -> Path | None:
    """The registered handler for aarch64 ELF files, if any."""
    for entry in BINFMT.iterdir():
        if entry.name in ("register", "status"):
            continue
        try:
            text = entry.read_text()
        except OSError:
            continue
        if "enabled" in text.splitlines() and "magic 7f454c460201010000000000000000000200b700" in text:
            return entry
    return None


@contextmanager
def aarch64_binfmt() -> Iterator[None]:
    """qemu-aarch64 runs arm64 binaries while inside (with the F flag, so chroots can use it)."""
    if os.geteuid() != 0:
        raise Unavailable("registering a binfmt_misc handler needs root")
    if not os.path.exists(QEMU_AARCH64):
        raise Unavailable("qemu-user-static is not installed (apt-get install qemu-user-static)")
    mounted = False
    if not (BINFMT / "register").exists():
        proc = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True,
                              timeout=30)
        if proc.returncode != 0:
            raise Unavailable(f"binfmt_misc cannot be mounted here: {proc.stderr.decode().strip()}")
        mounted = True
    added: Path | None = None
    handler = _aarch64_handler()
    if handler is not None and "F" not in handler.read_text().split("flags:")[-1].split("\n")[0]:
        raise Unavailable(f"{handler} runs aarch64 binaries without the F flag (chroots cannot use it)")
    if handler is None:
        added = BINFMT / "pybuild-test-aarch64"
        interpreter, flags = (QEMU_AARCH64_P, "PF") if os.path.exists(QEMU_AARCH64_P) else (QEMU_AARCH64, "F")
        (BINFMT / "register").write_text(f":{added.name}:M::{AARCH64_MAGIC}:{AARCH64_MASK}:{interpreter}:{flags}")
    try:
        yield
    finally:
        if added is not None and added.exists():
            added.write_text("-1")
        if mounted:
            subprocess.run(["umount", str(BINFMT)], capture_output=True, timeout=30)


def arm64_busybox() -> Path:
    """The static arm64 busybox from Debian's busybox-static:arm64 (downloaded once, never
    installed: unpacked with dpkg-deb -x into a cache directory)."""
    binary = CACHE / "busybox-arm64" / "bin" / "busybox"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    dl = CACHE / "download"
    shutil.rmtree(dl, ignore_errors=True)
    dl.mkdir()
    proc = subprocess.run(["apt-get", "download", "busybox-static:arm64"], cwd=dl, capture_output=True, text=True,
                          timeout=300)
    debs = list(dl.glob("busybox-static_*_arm64.deb"))
    if proc.returncode != 0 or not debs:
        raise Unavailable("busybox-static:arm64 cannot be downloaded (dpkg --add-architecture arm64 && apt-get "
                          "update): " + (proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no package"))
    tree = CACHE / "tree.tmp"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True, timeout=120)
    (CACHE / "busybox-arm64" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(tree / "bin" / "busybox", str(binary) + ".tmp")
    os.replace(str(binary) + ".tmp", binary)
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(dl, ignore_errors=True)
    return binary
