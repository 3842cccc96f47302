"""Multi-platform test setup: qemu-aarch64 registered in binfmt_misc (only for as long as the
tests need it, and only if it was not there), an arm64 busybox from Debian's
busybox-static:arm64 package, and a two-platform (amd64 + arm64) base index in an OCI layout."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from registry_fixtures import SampleImage, write_oci_layout

from tests import binfmt

APPLETS = ("sh", "uname", "cat", "echo", "ls", "mkdir", "touch", "true", "test", "wc", "du", "rm", "cp", "id", "env")


@contextmanager
def aarch64_binfmt() -> Iterator[None]:
    """qemu-aarch64 runs arm64 binaries while inside (tests/binfmt.py); skip where it cannot."""
    try:
        with binfmt.aarch64_binfmt():
            yield
    except binfmt.Unavailable as e:
        pytest.skip(str(e))


def arm64_busybox() -> Path:
    """Debian's static arm64 busybox (tests/binfmt.py); skip where it cannot be had."""
    try:
        return binfmt.arm64_busybox()
    except binfmt.Unavailable as e:
        pytest.skip(str(e))


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
