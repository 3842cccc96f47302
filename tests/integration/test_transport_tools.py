"""Our layouts and archives against the real tools: skopeo reads and writes them, umoci unpacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from transport_helpers import make_image, make_multiarch

from pybuild.oci.digest import Digest
from pybuild.oci.layout import Layout
from pybuild.oci.spec import DOCKER_MANIFEST, OCI_INDEX, ImageConfig, Manifest, parse_manifest
from pybuild.oci.transport import copy, open_source

pytestmark = pytest.mark.integration


def need_tool(name: str) -> None:
    if not shutil.which(name):
        pytest.skip(f"{name} is not installed (apt-get install {name})")


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{argv} failed: {proc.stderr}"
    return proc.stdout


def _check_readable(spec: str) -> Manifest:
    """Read every blob of ``spec`` through our transports, verifying digests and diff_ids."""
    from pybuild.oci.compress import decompressing_reader

    src = open_source(spec)
    try:
        raw, mt = src.get_manifest()
        m = parse_manifest(raw, mt)
        assert isinstance(m, Manifest)
        with src.get_blob(m.config) as f:
            cfg = ImageConfig.from_json(f.read())
        for desc, diff_id in zip(m.layers, cfg.rootfs_diff_ids, strict=True):
            with src.get_blob(desc) as f:
                blob = f.read()
            assert Digest.of_bytes(blob) == desc.digest
            import io

            assert Digest.of_bytes(decompressing_reader(io.BytesIO(blob)).read()) == diff_id
        return m
    finally:
        src.close()


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    lay = Layout.create(tmp_path / "lay")
    make_image(lay, "gz", compression="gzip")
    make_image(lay, "zs", compression="zstd", layers=[{"z/file": b"zstd layer\n"}])
    return tmp_path / "lay"


@pytest.mark.parametrize("ref", ["gz", "zs"])
def test_skopeo_inspects_our_layout(layout: Path, ref: str) -> None:
    need_tool("skopeo")
    desc = Layout.open(layout).resolve(ref)
    info = json.loads(run("skopeo", "inspect", f"oci:{layout}:{ref}"))
    assert info["Digest"] == desc.digest
    assert info["Architecture"] == "amd64"
    raw = run("skopeo", "inspect", "--raw", f"oci:{layout}:{ref}").encode()
    assert Digest.of_bytes(raw) == desc.digest


def test_skopeo_copies_our_layout_and_we_read_its_output(layout: Path, tmp_path: Path) -> None:
    need_tool("skopeo")
    desc = Layout.open(layout).resolve("zs")
    run("skopeo", "copy", "--quiet", f"oci:{layout}:zs", f"oci:{tmp_path / 'out'}:copied")
    run("skopeo", "copy", "--quiet", f"oci:{layout}:gz", f"dir:{tmp_path / 'dir'}")
    run("skopeo", "copy", "--quiet", f"oci:{layout}:gz", f"oci-archive:{tmp_path / 'a.tar'}:arch")
    out = _check_readable(f"oci:{tmp_path / 'out'}:copied")
    assert Layout.open(tmp_path / "out").resolve("copied").digest == desc.digest  # bytes kept
    assert out.layers[0].media_type.endswith("+zstd")
    _check_readable(f"dir:{tmp_path / 'dir'}")
    _check_readable(f"oci-archive:{tmp_path / 'a.tar'}:arch")
    # and we copy skopeo's dir: back into a layout with the manifest digest intact
    gz = Layout.open(layout).resolve("gz")
    assert copy(f"dir:{tmp_path / 'dir'}", f"oci:{tmp_path / 'back'}:b") == gz.digest


def test_skopeo_reads_our_docker_archive(layout: Path, tmp_path: Path) -> None:
    need_tool("skopeo")
    for ref in ("gz", "zs"):
        archive = tmp_path / f"{ref}.tar"
        copy(f"oci:{layout}:{ref}", f"docker-archive:{archive}:myapp:{ref}")
        raw = run("skopeo", "inspect", "--raw", f"docker-archive:{archive}")
        assert json.loads(raw)["mediaType"] == DOCKER_MANIFEST
        run("skopeo", "copy", "--quiet", f"docker-archive:{archive}:myapp:{ref}", f"oci:{tmp_path / 'imp'}:{ref}")
        _check_readable(f"oci:{tmp_path / 'imp'}:{ref}")


def test_we_read_skopeos_docker_archive(layout: Path, tmp_path: Path) -> None:
    need_tool("skopeo")
    archive = tmp_path / "sk.tar"
    run("skopeo", "copy", "--quiet", f"oci:{layout}:gz", f"docker-archive:{archive}:sk/app:1")
    m = _check_readable(f"docker-archive:{archive}:sk/app:1")
    assert m.media_type == DOCKER_MANIFEST


def test_skopeo_reads_our_oci_archive_and_dir(layout: Path, tmp_path: Path) -> None:
    need_tool("skopeo")
    desc = Layout.open(layout).resolve("gz")
    copy(f"oci:{layout}:gz", f"oci-archive:{tmp_path / 'o.tar'}:v1")
    copy(f"oci:{layout}:gz", f"dir:{tmp_path / 'd'}")
    for spec in (f"oci-archive:{tmp_path / 'o.tar'}:v1", f"dir:{tmp_path / 'd'}"):
        raw = run("skopeo", "inspect", "--raw", spec).encode()
        assert Digest.of_bytes(raw) == desc.digest
        run("skopeo", "copy", "--quiet", spec, f"oci:{tmp_path / 'x'}:y")


def test_skopeo_copies_our_multiarch_index(tmp_path: Path) -> None:
    need_tool("skopeo")
    lay = Layout.create(tmp_path / "m")
    top = make_multiarch(lay, "multi")
    run("skopeo", "copy", "--quiet", "--all", f"oci:{tmp_path / 'm'}:multi", f"oci:{tmp_path / 'all'}:multi")
    copied = Layout.open(tmp_path / "all").resolve("multi")
    assert copied.digest == top.digest and copied.media_type == OCI_INDEX
    arm = copy(f"oci:{tmp_path / 'all'}:multi", f"oci:{tmp_path / 'arm'}:a", platform="linux/arm64")
    run("skopeo", "inspect", "--raw", f"oci:{tmp_path / 'arm'}:a")
    assert Layout.open(tmp_path / "arm").resolve("a").digest == arm


def test_umoci_unpacks_our_gzip_image(layout: Path, tmp_path: Path) -> None:
    need_tool("umoci")
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{layout}:gz", str(bundle))
    assert (bundle / "rootfs" / "etc" / "hello.txt").read_bytes() == b"hello\n"
    assert (bundle / "rootfs" / "etc" / "second").read_bytes() == b"two\n"
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/sh"]


def test_umoci_reads_a_layout_we_converted_to_docker_media_types_and_back(layout: Path, tmp_path: Path) -> None:
    need_tool("umoci")
    copy(f"oci:{layout}:zs", f"oci:{tmp_path / 'conv'}:d", format="docker")
    copy(f"oci:{tmp_path / 'conv'}:d", f"oci:{tmp_path / 'conv'}:o", format="oci")
    run("umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'conv'}:o", str(tmp_path / "b"))
    assert (tmp_path / "b" / "rootfs" / "z" / "file").read_bytes() == b"zstd layer\n"
