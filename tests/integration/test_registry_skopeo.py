"""Interoperability: what skopeo pushes, pybuild pulls (index, zstd), and the reverse,
through copy_image between ``oci:`` layouts and ``docker://``."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from registry_fixtures import Registry, make_image, write_oci_layout

pytestmark = pytest.mark.integration


def _skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    import shutil

    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    r = subprocess.run(["skopeo", *args], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return r


def _raw(host: str, name: str) -> bytes:
    return _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{host}/{name}").stdout


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    write_oci_layout(path, {"one": make_image("one", layers=2),
                            "multi": [("amd64", make_image("amd", arch="amd64")),
                                      ("arm64", make_image("arm", arch="arm64"))]})
    return path


def test_pull_what_skopeo_pushed_index_and_zstd(registry: Registry, layout: Path, tmp_path: Path) -> None:
    from pybuild.oci.layout import Layout
    from pybuild.oci.spec import parse_manifest
    from pybuild.oci.transport import copy

    _skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi",
            f"docker://{registry.host}/sk/multi:1")
    _skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd", f"oci:{layout}:one",
            f"docker://{registry.host}/sk/zstd:1")
    out = tmp_path / "pulled"
    multi_digest = copy(f"docker://{registry.host}/sk/multi:1", f"oci:{out}:multi", all_platforms=True)
    assert multi_digest == "sha256:" + hashlib.sha256(_raw(registry.host, "sk/multi:1")).hexdigest()
    zstd_digest = copy(f"docker://{registry.host}/sk/zstd:1", f"oci:{out}:zstd")
    raw = _raw(registry.host, "sk/zstd:1")
    assert zstd_digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    lay = Layout.open(out)
    doc = parse_manifest(lay.read_blob(lay.resolve("zstd").digest))
    assert all(x.media_type.endswith("+zstd") for x in doc.layers)  # type: ignore[union-attr]
    index = parse_manifest(lay.read_blob(lay.resolve("multi").digest))
    for child in index.manifests:  # type: ignore[union-attr]
        m = parse_manifest(lay.read_blob(child.digest))
        for d in m.descriptors():  # type: ignore[union-attr]
            assert lay.has_blob(d.digest)


def test_skopeo_pulls_what_pybuild_pushed(registry: Registry, layout: Path, tmp_path: Path) -> None:
    from pybuild.oci.transport import copy

    one = copy(f"oci:{layout}:one", f"docker://{registry.host}/pb/one:1")
    multi = copy(f"oci:{layout}:multi", f"docker://{registry.host}/pb/multi:1", all_platforms=True)
    index = json.loads((layout / "index.json").read_text())
    expected = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}
    assert one == expected["one"] and multi == expected["multi"]
    assert (layout / "blobs" / "sha256" / one.split(":")[1]).read_bytes() == _raw(registry.host, "pb/one:1")
    # skopeo verifies every blob as it copies
    _skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{registry.host}/pb/multi:1",
            f"oci:{tmp_path / 'out'}:m")
    _skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/pb/one:1", f"oci:{tmp_path / 'out'}:o")
    out_index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert {m["digest"] for m in out_index["manifests"]} == {one, multi}


def test_docker_to_docker_same_registry_mounts(registry: Registry, layout: Path) -> None:
    from pybuild.oci.transport import copy

    copy(f"oci:{layout}:one", f"docker://{registry.host}/mnt/a:1")
    events: list[dict[str, object]] = []
    from pybuild.oci.registry.client import RegistryOptions

    opts = RegistryOptions(on_event=lambda e: events.append(dict(e.data)))
    copy(f"docker://{registry.host}/mnt/a:1", f"docker://{registry.host}/mnt/b:1",
         destination_options={"options": opts})
    assert any(e.get("mounted_from") == "mnt/a" for e in events)
    assert _raw(registry.host, "mnt/a:1") == _raw(registry.host, "mnt/b:1")
