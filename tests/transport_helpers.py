"""Small images made in tests: a layer tar of a few files, written into an OCI layout."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from pybuild.oci.compress import CompressingWriter
from pybuild.oci.digest import Digest
from pybuild.oci.layout import Layout
from pybuild.oci.spec import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    layer_media_type,
)


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar holding ``files`` (name -> content), with parent dirs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(len(parts)):
                d = "/".join(parts[: i + 1])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(files[name]), 0o644
            tf.addfile(ti, io.BytesIO(files[name]))
    return buf.getvalue()


def compress(data: bytes, fmt: str) -> bytes:
    out = io.BytesIO()
    w = CompressingWriter(out, fmt)  # type: ignore[arg-type]
    w.write(data)
    w.close()
    return out.getvalue()


def make_image(layout: Layout, ref: str | None = "latest", *, compression: str = "gzip",
               layers: list[dict[str, bytes]] | None = None, arch: str = "amd64",
               cmd: list[str] | None = None) -> Descriptor:
    """Write a small image into ``layout`` (named ``ref``) and return its manifest descriptor."""
    layers = layers if layers is not None else [{"etc/hello.txt": b"hello\n", "bin/tool": b"#!/bin/sh\necho hi\n"},
                                                {"etc/second": b"two\n"}]
    diff_ids: list[Digest] = []
    descs: list[Descriptor] = []
    for files in layers:
        plain = layer_tar(files)
        diff_ids.append(Digest.of_bytes(plain))
        blob = compress(plain, compression)
        digest, size = layout.put_bytes(blob)
        descs.append(Descriptor(layer_media_type(compression), digest, size))
    config = ImageConfig(architecture=arch, os="linux", created="2024-01-01T00:00:00Z",
                         config=ContainerConfig(env=["PATH=/usr/bin:/bin"], cmd=cmd or ["/bin/sh"]),
                         rootfs_diff_ids=diff_ids,
                         history=[History(created="2024-01-01T00:00:00Z", created_by="test")
                                  for _ in layers])
    cfg_raw = config.to_json()
    cdigest, csize = layout.put_bytes(cfg_raw)
    manifest = Manifest(Descriptor(OCI_CONFIG, cdigest, csize), descs)
    raw = manifest.to_json()
    mdigest, msize = layout.put_bytes(raw)
    desc = Descriptor(OCI_MANIFEST, mdigest, msize)
    if ref is not None:
        layout.set_ref(ref, desc)
    return desc


def make_multiarch(layout: Layout, ref: str = "multi", *, with_attestation: bool = True) -> Descriptor:
    """An index over amd64 and arm64 images (plus an unknown/unknown attestation entry)."""
    entries = []
    for arch in ("amd64", "arm64"):
        d = make_image(layout, None, arch=arch, layers=[{f"etc/{arch}": arch.encode()}])
        entries.append(Descriptor(d.media_type, d.digest, d.size, platform=Platform("linux", arch)))
    if with_attestation:
        att = make_image(layout, None, layers=[{"att.json": b"{}"}])
        entries.append(Descriptor(att.media_type, att.digest, att.size,
                                  platform=Platform("unknown", "unknown")))
    raw = Index(entries).to_json()
    digest, size = layout.put_bytes(raw)
    desc = Descriptor(OCI_INDEX, digest, size)
    layout.set_ref(ref, desc)
    return desc


def new_layout(path: Path) -> Layout:
    return Layout.create(path)
