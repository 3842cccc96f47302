"""Multi-platform test setup: qemu-aarch64 registered in binfmt_misc (only for as long as the
tests need it, and only if it was not there), an arm64 busybox from Debian's
busybox-static:arm64 package, and a two-platform (amd64 + arm64) base index in an OCI layout."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from registry_fixtures import SampleImage, write_oci_layout

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64 = "/usr/bin/qemu-aarch64-static"
# Debian's name for it that tells qemu the kernel preserves argv[0] (the P flag): busybox
# applets reached through symlinks (`ls | wc -l`) need their own name as argv[0]
QEMU_AARCH64_P = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
# the ELF header of an aarch64 executable, as Debian's qemu-user-static registers it
AARCH64_MAGIC = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
APPLETS = ("sh", "uname", "cat", "echo", "ls", "mkdir", "touch", "true", "test", "wc", "du", "rm", "cp", "id", "env")
CACHE = Path("/var/tmp/pybuild-test-cache")


def _aarch64_handler() -> Path | None:
    """The registered handler for aarch64 ELF files with the F flag, if any."""
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
    """qemu-aarch64 runs arm64 binaries while inside; what this added is removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("registering a binfmt_misc handler needs root")
    if not os.path.exists(QEMU_AARCH64):
        pytest.skip("qemu-user-static is not installed (apt-get install qemu-user-static)")
    mounted = False
    if not (BINFMT / "register").exists():
        proc = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True,
                              timeout=30)
        if proc.returncode != 0:
            pytest.skip(f"binfmt_misc cannot be mounted here: {proc.stderr.decode().strip()}")
        mounted = True
    added: Path | None = None
    handler = _aarch64_handler()
    if handler is not None and "F" not in handler.read_text().split("flags:")[-1].split("\n")[0]:
        pytest.skip(f"{handler} runs aarch64 binaries without the F flag (chroots cannot use it)")
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
        pytest.skip("busybox-static:arm64 cannot be downloaded (dpkg --add-architecture arm64 && apt-get update): "
                    + proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no package")
    tree = CACHE / "tree.tmp"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True, timeout=120)
    (CACHE / "busybox-arm64" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(tree / "bin" / "busybox", str(binary) + ".tmp")
    os.replace(str(binary) + ".tmp", binary)
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(dl, ignore_errors=True)
    return binary


def _busybox_layer(busybox: Path) -> bytes:
    """An uncompressed layer: bin/busybox, applet symlinks, a /tmp, an /etc/passwd."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = len(passwd), 0o644
        tar.addfile(info, io.BytesIO(passwd))
    return out.getvalue()


def busybox_image(busybox: Path, arch: str, variant: str | None = None) -> SampleImage:
    """A one-layer busybox image for ``arch`` (gzip layer, config naming the platform, a
    history entry for the layer: buildah refuses a base whose history lists fewer layers)."""
    raw = _busybox_layer(busybox)
    blob = gzip.compress(raw, mtime=0)
    layer = "sha256:" + hashlib.sha256(blob).hexdigest()
    config_doc = {"architecture": arch, "os": "linux",
                  "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
                  "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"busybox-static ({arch})"}]}
    if variant:
        config_doc["variant"] = variant
    config = json.dumps(config_doc, sort_keys=True).encode()
    cd = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                                      "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer,
                                       "size": len(blob)}]}).encode()
    return SampleImage(manifest, "application/vnd.oci.image.manifest.v1+json", {cd: config, layer: blob})


def two_platform_base(layout: Path) -> str:
    """An OCI layout whose ref ``busybox`` is an index of an amd64 and an arm64 busybox;
    returns the transport spec a FROM can name (``oci:LAYOUT:busybox``)."""
    host = shutil.which("busybox")
    if not host:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    images = [("amd64", busybox_image(Path(host), "amd64")), ("arm64", busybox_image(arm64_busybox(), "arm64"))]
    write_oci_layout(layout, {"busybox": images})
    return f"oci:{layout}:busybox"


def unrunnable_platform() -> str:
    """A platform whose binaries cannot run here (a host whose systemd registered every qemu
    handler has none: then the test skips)."""
    from pybuild.oci.platform_host import KNOWN_ARCHES, runnable_platforms

    runnable = runnable_platforms()
    for arch in ("s390x", "ppc64le", "riscv64", *sorted(KNOWN_ARCHES)):
        if f"linux/{arch}" not in runnable:
            return f"linux/{arch}"
    pytest.skip("every known platform can run here (binfmt_misc handlers for all of them)")
