"""Transports and copy_image: exact bytes, conversions, verification, hostile archives."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from transport_helpers import compress, layer_tar, make_image, make_multiarch

from pybuild.errors import (
    ConfigError,
    DigestMismatch,
    ImageNotFound,
    IntegrityError,
    InvalidReference,
    UnsupportedError,
)
from pybuild.events import BLOB, Event
from pybuild.oci import transport
from pybuild.oci.compress import decompressing_reader, detect
from pybuild.oci.digest import Digest
from pybuild.oci.layout import Layout
from pybuild.oci.platform_host import host_platform
from pybuild.oci.spec import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    parse_manifest,
)
from pybuild.oci.transport import copy, copy_image, open_destination, open_source


def _read(spec: str) -> tuple[Manifest, bytes, ImageConfig, list[bytes]]:
    """Open ``spec``, return (manifest, raw, config, uncompressed layers) verified."""
    src = open_source(spec)
    try:
        raw, mt = src.get_manifest()
        m = parse_manifest(raw, mt)
        assert isinstance(m, Manifest)
        with src.get_blob(m.config) as f:
            cfg_raw = f.read()
        assert Digest.of_bytes(cfg_raw) == m.config.digest
        layers = []
        for desc in m.layers:
            with src.get_blob(desc) as f:
                blob = f.read()
            assert Digest.of_bytes(blob) == desc.digest and len(blob) == desc.size
            layers.append(decompressing_reader(io.BytesIO(blob)).read())
        return m, raw, ImageConfig.from_json(cfg_raw), layers
    finally:
        src.close()


@pytest.fixture
def image(tmp_path: Path) -> tuple[str, Descriptor]:
    layout = Layout.create(tmp_path / "src")
    return f"oci:{tmp_path / 'src'}", make_image(layout, "app:1")


def test_oci_to_oci_keeps_manifest_digest(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    src, desc = image
    digest = copy(f"{src}:app:1", f"oci:{tmp_path / 'dst'}:copy")
    assert digest == desc.digest
    dst = Layout.open(tmp_path / "dst")
    assert dst.resolve("copy").digest == desc.digest
    _, _, cfg, layers = _read(f"oci:{tmp_path / 'dst'}:copy")
    assert [Digest.of_bytes(x) for x in layers] == cfg.rootfs_diff_ids


def test_empty_ref_means_the_only_image(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    src, desc = image
    assert copy(src, f"oci:{tmp_path / 'dst'}") == desc.digest
    assert Layout.open(tmp_path / "dst").resolve(None).digest == desc.digest
    make_image(Layout.open(tmp_path / "src"), "second", layers=[{"x": b"x"}])
    with pytest.raises(ImageNotFound, match="name one"):
        open_source(src)
    with pytest.raises(ImageNotFound):
        open_source(f"{src}:missing")


def test_oci_archive_round_trip(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    src, desc = image
    archive = tmp_path / "img.tar"
    assert copy(f"{src}:app:1", f"oci-archive:{archive}:v1") == desc.digest
    with tarfile.open(archive) as tf:
        names = set(tf.getnames())
    assert {"oci-layout", "index.json", f"blobs/sha256/{desc.digest.hex}"} <= names
    assert not [n for n in names if ".tmp" in n or n.endswith(".lock")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # staging removed
    assert copy(f"oci-archive:{archive}:v1", f"oci:{tmp_path / 'back'}:v1") == desc.digest
    assert copy(f"oci-archive:{archive}", f"oci:{tmp_path / 'back'}:only") == desc.digest


def test_docker_archive_write_and_read(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    src, _ = image
    archive = tmp_path / "d.tar"
    copy(f"{src}:app:1", f"docker-archive:{archive}:myapp:v1")
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["myapp:v1"]
        config = ImageConfig.from_json(tf.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        for name, diff_id in zip(manifest[0]["Layers"], config.rootfs_diff_ids, strict=True):
            data = tf.extractfile(name).read()  # type: ignore[union-attr]
            assert detect(data[:6]) == "none"  # layers are stored uncompressed, as docker save does
            assert name == f"{diff_id.hex}.tar" and Digest.of_bytes(data) == diff_id
    m, _, cfg, layers = _read(f"docker-archive:{archive}")
    assert m.media_type == DOCKER_MANIFEST and m.config.media_type == DOCKER_CONFIG
    assert [x.digest for x in m.layers] == cfg.rootfs_diff_ids
    assert _read(f"docker-archive:{archive}:myapp:v1")[0] == m
    assert _read(f"docker-archive:{archive}:@0")[0] == m
    with pytest.raises(ImageNotFound):
        open_source(f"docker-archive:{archive}:other:v1")


def _legacy_docker_save(path: Path, *, extra: list[tarfile.TarInfo] | None = None,
                        layer_compression: str = "none") -> list[Digest]:
    """An archive shaped like an old ``docker save``: ID/layer.tar, a symlinked duplicate."""
    plain = [layer_tar({"a": b"A"}), layer_tar({"b": b"B"})]
    diff_ids = [Digest.of_bytes(x) for x in plain]
    cfg = ImageConfig(architecture="amd64", os="linux", rootfs_diff_ids=[*diff_ids, diff_ids[0]]).to_json()
    cfg_name = Digest.of_bytes(cfg).hex + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": ["busybox:latest"],
                            "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        add(cfg_name, cfg)
        add("aaa/layer.tar", compress(plain[0], layer_compression))
        add("bbb/layer.tar", plain[1])
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tf.addfile(link)
        for ti in extra or []:
            tf.addfile(ti)
        add("manifest.json", manifest)
    return diff_ids


@pytest.mark.parametrize("layer_compression", ["none", "gzip"])
def test_reads_legacy_docker_save_layout(tmp_path: Path, layer_compression: str) -> None:
    archive = tmp_path / "legacy.tar"
    diff_ids = _legacy_docker_save(archive, layer_compression=layer_compression)
    m, _, _, layers = _read(f"docker-archive:{archive}:busybox:latest")
    assert [x.digest for x in m.layers] == [*diff_ids, diff_ids[0]]
    assert [Digest.of_bytes(x) for x in layers] == [*diff_ids, diff_ids[0]]
    copy(f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}:bb")
    assert Layout.open(tmp_path / "out").resolve("bb").media_type == DOCKER_MANIFEST


def test_archive_symlink_to_host_file_is_not_followed(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    plain = layer_tar({"a": b"A"})
    cfg = ImageConfig(architecture="amd64", os="linux", rootfs_diff_ids=[Digest.of_bytes(plain)]).to_json()
    with tarfile.open(archive, "w") as tf:
        ti = tarfile.TarInfo("c.json")
        ti.size = len(cfg)
        tf.addfile(ti, io.BytesIO(cfg))
        for name, target in (("layer.tar", "/etc/passwd"), ("up.tar", "../../../../etc/passwd")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tf.addfile(link)
        data = json.dumps([{"Config": "c.json", "Layers": ["layer.tar"]}]).encode()
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    with pytest.raises(ImageNotFound, match="no entry"):
        open_source(f"docker-archive:{archive}")


def test_archive_link_loop_and_duplicates_are_refused(tmp_path: Path) -> None:
    a = tarfile.TarInfo("x")
    a.type, a.linkname = tarfile.SYMTYPE, "y"
    b = tarfile.TarInfo("y")
    b.type, b.linkname = tarfile.SYMTYPE, "x"
    archive = tmp_path / "loop.tar"
    _legacy_docker_save(archive, extra=[a, b])
    from pybuild.oci.archive import TarArchive

    with pytest.raises(IntegrityError, match="loop"):
        TarArchive(archive).open("x")
    dup = tmp_path / "dup.tar"
    _legacy_docker_save(dup, extra=[tarfile.TarInfo("./manifest.json")])
    with pytest.raises(IntegrityError, match="duplicate"):
        open_source(f"docker-archive:{dup}")


def test_dir_round_trip(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    src, desc = image
    d = tmp_path / "dir"
    assert copy(f"{src}:app:1", f"dir:{d}") == desc.digest
    assert (d / "version").read_bytes() == b"Directory Transport Version: 1.1\n"
    assert Digest.of_bytes((d / "manifest.json").read_bytes()) == desc.digest
    m, _, _, _ = _read(f"dir:{d}")
    for x in m.descriptors():
        assert (d / x.digest.hex).is_file()
    assert copy(f"dir:{d}", f"oci:{tmp_path / 'o'}:x") == desc.digest
    # writing again over a dir: image is allowed; over other files it is not
    copy(f"{src}:app:1", f"dir:{d}")
    other = tmp_path / "notdir"
    other.mkdir()
    (other / "precious").write_text("keep")
    with pytest.raises(ConfigError):
        open_destination(f"dir:{other}")
    assert (other / "precious").read_text() == "keep"


def test_multiarch_selects_platform_and_skips_attestations(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    top = make_multiarch(layout, "multi")
    idx = parse_manifest(layout.read_blob(top.digest), OCI_INDEX)
    assert isinstance(idx, Index)
    for arch in ("amd64", "arm64"):
        digest = copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / arch}:x", platform=f"linux/{arch}")
        assert digest == idx.manifests[0 if arch == "amd64" else 1].digest
    host = host_platform().architecture
    if host in ("amd64", "arm64"):
        digest = copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / 'host'}:x")
        assert digest == idx.manifests[0 if host == "amd64" else 1].digest
    with pytest.raises(ImageNotFound, match="linux/s390x"):
        copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / 'none'}:x", platform="linux/s390x")
    with pytest.raises(ImageNotFound):  # unknown/unknown is never chosen
        copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / 'none'}:x", platform="unknown/unknown")


def test_all_platforms_keeps_index_bytes(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    top = make_multiarch(layout, "multi")
    digest = copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / 'dst'}:m", all_platforms=True)
    assert digest == top.digest
    dst = Layout.open(tmp_path / "dst")
    assert dst.resolve("m").media_type == OCI_INDEX
    assert set(dst.list_blobs()) == set(layout.list_blobs())
    with pytest.raises(UnsupportedError):
        copy(f"oci:{tmp_path / 'src'}:multi", f"docker-archive:{tmp_path / 'x.tar'}", all_platforms=True)
    assert not (tmp_path / "x.tar").exists()


def test_all_platforms_to_docker_makes_manifest_list(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    make_multiarch(layout, "multi", with_attestation=False)
    copy(f"oci:{tmp_path / 'src'}:multi", f"oci:{tmp_path / 'dst'}:m", all_platforms=True, format="docker")
    dst = Layout.open(tmp_path / "dst")
    top = dst.resolve("m")
    lst = parse_manifest(dst.read_blob(top.digest), None)
    assert isinstance(lst, Index) and lst.media_type == DOCKER_MANIFEST_LIST == top.media_type
    for entry in lst.manifests:
        child = parse_manifest(dst.read_blob(entry.digest, entry.size), entry.media_type)
        assert isinstance(child, Manifest) and child.media_type == DOCKER_MANIFEST


def test_format_docker_recompresses_zstd_and_keeps_diff_ids(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    make_image(layout, "z", compression="zstd")
    copy(f"oci:{tmp_path / 'src'}:z", f"oci:{tmp_path / 'dst'}:d", format="docker")
    m, _, cfg, layers = _read(f"oci:{tmp_path / 'dst'}:d")
    assert m.media_type == DOCKER_MANIFEST and m.config.media_type == DOCKER_CONFIG
    assert all(x.media_type == DOCKER_LAYER_GZIP for x in m.layers)
    assert [Digest.of_bytes(x) for x in layers] == cfg.rootfs_diff_ids
    # and back to OCI
    copy(f"oci:{tmp_path / 'dst'}:d", f"oci:{tmp_path / 'back'}:o", format="oci")
    m2, _, _, _ = _read(f"oci:{tmp_path / 'back'}:o")
    assert m2.media_type == OCI_MANIFEST and m2.config.media_type == OCI_CONFIG
    assert [x.digest for x in m2.layers] == [x.digest for x in m.layers]


@pytest.mark.parametrize("target, media_type, magic", [
    ("zstd", OCI_LAYER_ZSTD, "zstd"), ("gzip", OCI_LAYER_GZIP, "gzip"),
    ("none", "application/vnd.oci.image.layer.v1.tar", "none")])
def test_compression_change(tmp_path: Path, target: str, media_type: str, magic: str) -> None:
    layout = Layout.create(tmp_path / "src")
    start = "gzip" if target != "gzip" else "zstd"
    make_image(layout, "i", compression=start)
    events: list[Event] = []
    copy(f"oci:{tmp_path / 'src'}:i", f"oci:{tmp_path / 'dst'}:i", compression=target, on_event=events.append)
    m, _, cfg, layers = _read(f"oci:{tmp_path / 'dst'}:i")
    assert all(x.media_type == media_type for x in m.layers)
    dst = Layout.open(tmp_path / "dst")
    for x in m.layers:
        with dst.open_blob(x.digest) as f:
            assert detect(f.read(6)) == magic
    assert [Digest.of_bytes(x) for x in layers] == cfg.rootfs_diff_ids
    assert any(e.kind == BLOB and e.data["action"] == "recompress" for e in events)


def test_zstd_with_docker_format_is_refused(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    with pytest.raises(ConfigError):
        copy(f"{image[0]}:app:1", f"oci:{tmp_path / 'd'}", format="docker", compression="zstd")
    with pytest.raises(ConfigError):
        copy(f"{image[0]}:app:1", f"oci:{tmp_path / 'd'}", format="v1")


def test_corrupt_source_blob_leaves_nothing_in_destination(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    desc = make_image(layout, "x")
    m = parse_manifest(layout.read_blob(desc.digest), desc.media_type)
    assert isinstance(m, Manifest)
    victim = layout.blob_path(m.layers[1].digest)
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch):
        copy(f"oci:{tmp_path / 'src'}:x", f"oci:{tmp_path / 'dst'}:x")
    assert not (tmp_path / "dst").exists()  # the layout the failed copy began is gone again
    # into an existing layout: its index and blobs stay exactly as they were
    Layout.create(tmp_path / "dst2")
    make_image(Layout.open(tmp_path / "dst2"), "old", layers=[{"o": b"other"}])
    before = sorted((str(p), p.read_bytes()) for p in (tmp_path / "dst2").rglob("*") if p.is_file())
    with pytest.raises(DigestMismatch):
        copy(f"oci:{tmp_path / 'src'}:x", f"oci:{tmp_path / 'dst2'}:x")
    assert sorted((str(p), p.read_bytes()) for p in (tmp_path / "dst2").rglob("*") if p.is_file()) == before


def test_child_manifest_not_matching_index_is_refused(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    a = make_image(layout, None, layers=[{"a": b"a"}])
    b = make_image(layout, None, layers=[{"b": b"b"}])
    # an index whose entry claims a's digest but b's size
    lie = Index([Descriptor(OCI_MANIFEST, a.digest, b.size + 1,
                            platform=host_platform_desc())])
    d, n = layout.put_bytes(lie.to_json())
    layout.set_ref("lie", Descriptor(OCI_INDEX, d, n))
    with pytest.raises(DigestMismatch):
        copy(f"oci:{tmp_path / 'src'}:lie", f"oci:{tmp_path / 'dst'}:x")


def host_platform_desc() -> Any:
    from pybuild.oci.spec import Platform

    h = host_platform()
    return Platform(h.os, h.architecture, h.variant)


def test_blob_events(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    events: list[Event] = []
    copy(f"{image[0]}:app:1", f"oci:{tmp_path / 'd'}:x", on_event=events.append)
    blob_events = [e for e in events if e.kind == BLOB]
    finished = {e.data["digest"] for e in blob_events if e.data["done"] == e.data["total"]}
    assert len(finished) == 3  # config + 2 layers
    assert all({"digest", "done", "total", "action"} <= set(e.data) for e in blob_events)
    events.clear()
    copy(f"{image[0]}:app:1", f"oci:{tmp_path / 'd'}:y", on_event=events.append)
    assert {e.data["action"] for e in events if e.kind == BLOB} == {"skip"}


def test_spec_parsing_errors() -> None:
    for bad in ("busybox", "nope:/x", "oci:", "docker:busybox", "docker://"):
        with pytest.raises(InvalidReference):
            open_source(bad)
    assert transport.is_transport_spec("oci:/x") and not transport.is_transport_spec("busybox:latest")


def test_register_transport_hook(tmp_path: Path, image: tuple[str, Descriptor]) -> None:
    seen: dict[str, Any] = {}

    def opener(rest: str, **options: Any) -> transport.ImageDestination:
        seen["rest"], seen["options"] = rest, options
        return open_destination(f"oci:{tmp_path / 'hooked'}:{rest}")

    transport.register_transport("test-store", None, opener)
    try:
        copy(f"{image[0]}:app:1", "test-store:name", destination_options={"flag": 1})
    finally:
        transport.unregister_transport("test-store")
    assert seen == {"rest": "name", "options": {"flag": 1}}
    assert Layout.open(tmp_path / "hooked").resolve("name").digest == image[1].digest


def test_docker_transport_missing_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pybuild.oci.registry.transport", None)
    with pytest.raises(UnsupportedError):
        open_source("docker://busybox")


class _Truncating:
    """A destination that stops reading early: copy_image must still notice bad data."""

    reference = "test"

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def has_blob(self, desc: Descriptor) -> bool:
        return False

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        self.blobs[desc.digest] = stream.read(desc.size)

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        pass

    def commit(self) -> None:
        raise AssertionError("must not commit")

    def close(self) -> None:
        pass


def test_copy_verifies_even_when_destination_trusts(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    desc = make_image(layout, "x")
    m = parse_manifest(layout.read_blob(desc.digest), desc.media_type)
    assert isinstance(m, Manifest)
    path = layout.blob_path(m.layers[0].digest)
    path.write_bytes(path.read_bytes() + b"extra")  # longer than the descriptor says
    src = open_source(f"oci:{tmp_path / 'src'}:x")
    with pytest.raises(DigestMismatch):
        copy_image(src, _Truncating())


def test_reads_docker_save_oci_style_layout(tmp_path: Path) -> None:
    """Docker 25+ ``docker save``: an OCI layout plus manifest.json naming blobs/sha256/HEX."""
    layout = Layout.create(tmp_path / "lay")
    desc = make_image(layout, "x")
    m = parse_manifest(layout.read_blob(desc.digest), desc.media_type)
    assert isinstance(m, Manifest)
    entry = [{"Config": f"blobs/sha256/{m.config.digest.hex}", "RepoTags": ["app:1"],
              "Layers": [f"blobs/sha256/{x.digest.hex}" for x in m.layers]}]
    (tmp_path / "lay" / "manifest.json").write_text(json.dumps(entry))
    archive = tmp_path / "new.tar"
    with tarfile.open(archive, "w") as tf:
        for name in ("oci-layout", "index.json", "manifest.json", "blobs"):
            tf.add(tmp_path / "lay" / name, name)
    got, _, cfg, layers = _read(f"docker-archive:{archive}:app:1")
    assert [x.digest for x in got.layers] == cfg.rootfs_diff_ids
    assert got.config.digest == m.config.digest
    # the same archive is also an oci-archive
    assert copy(f"oci-archive:{archive}:x", f"oci:{tmp_path / 'o'}:x") == desc.digest


class _AlreadyHas(_Truncating):
    """A destination that finds each blob already present once asked to write it (a race)."""

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        pass

    def commit(self) -> None:
        self.committed = True


def test_destination_that_reads_nothing_still_gets_a_verified_copy(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "src")
    desc = make_image(layout, "x")
    dst = _AlreadyHas()
    assert copy_image(open_source(f"oci:{tmp_path / 'src'}:x"), dst) == desc.digest
    assert dst.committed
