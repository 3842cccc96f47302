"""`bud --compression-format zstd` gives zstd layers in what is pushed, even over a pulled base;
a push that cannot be done leaves its destination exactly as it was (oci: new or existing,
dir:). Checked with skopeo."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def _tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` with its content's digest (what "exactly as it was" means)."""
    out = {}
    for dirpath, _, files in os.walk(path):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(path))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose busybox was pulled (its layers arrive as gzip blobs), not built."""
    work = tmp_path_factory.mktemp("push-zstd")
    root, _ = build_busybox(work)
    layout = work / "base"
    pyb(root, "push", "busybox", f"oci:{layout}:busybox")
    store = work / "pulled"
    image_id = pyb(store, "pull", "-q", f"oci:{layout}:busybox").stdout.strip().splitlines()[-1]
    pyb(store, "tag", image_id, "busybox")
    return store


def _layer_types(spec: str) -> set[str]:
    raw = subprocess.run(["skopeo", "inspect", "--raw", spec], capture_output=True, text=True, timeout=120)
    assert raw.returncode == 0, raw.stderr
    return {layer["mediaType"] for layer in json.loads(raw.stdout)["layers"]}


def test_bud_compression_format_zstd_is_what_push_writes(pulled: Path, tmp_path: Path) -> None:
    need_tool("skopeo")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo z > /z\n")
    pyb(pulled, "bud", "-q", "--compression-format", "zstd", "-t", "z", str(ctx))
    dest = tmp_path / "out"
    pyb(pulled, "push", "z", f"oci:{dest}:z")
    assert _layer_types(f"oci:{dest}:z") == {ZSTD}
    # an explicit push flag still wins
    pyb(pulled, "push", "--compression-format", "gzip", "z", f"oci:{dest}:gz")
    assert _layer_types(f"oci:{dest}:gz") == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    # docker can't carry zstd: a docker-archive push of the image falls back to gzip
    pyb(pulled, "push", "z", f"docker-archive:{tmp_path / 'z.tar'}:z:latest")
    assert _layer_types(f"docker-archive:{tmp_path / 'z.tar'}") == \
        {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    # and a docker-format build refuses zstd up front
    proc = pyb(pulled, "bud", "-q", "--format", "docker", "--compression-format", "zstd", "-t", "zd", str(ctx),
               check=False)
    assert proc.returncode != 0 and "zstd" in proc.stderr and "Traceback" not in proc.stderr


def _corrupt_store_layer(store: Path) -> None:
    """Flip a byte of the biggest layer blob of the store's pulled busybox."""
    blobs = store / "blobs" / "sha256"
    biggest = max((p for p in blobs.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))


def test_failed_push_leaves_the_destination_as_it_was(tmp_path: Path) -> None:
    need_tool("skopeo")
    work = tmp_path / "w"
    root, _ = build_busybox(work)
    src = tmp_path / "src"
    pyb(root, "push", "busybox", f"oci:{src}:busybox")
    store = tmp_path / "store"
    image_id = pyb(store, "pull", "-q", f"oci:{src}:busybox").stdout.strip().splitlines()[-1]
    other = tmp_path / "other"
    other.mkdir()
    (other / "f").write_text("other\n")
    (other / "Containerfile").write_text("FROM scratch\nCOPY f /f\n")
    pyb(root, "bud", "-q", "-t", "other", str(other))
    existing = tmp_path / "existing"
    pyb(root, "push", "other", f"oci:{existing}:old")  # a layout that already holds an image
    dir_dest = tmp_path / "dirdest"
    pyb(root, "push", "other", f"dir:{dir_dest}")
    before = {"existing": _tree(existing), "dir": _tree(dir_dest)}
    _corrupt_store_layer(store)
    new = tmp_path / "new" / "layout"
    def unchanged() -> None:
        assert not (tmp_path / "new").exists()
        assert _tree(existing) == before["existing"]
        assert _tree(dir_dest) == before["dir"]

    for flags, dest in (([], f"oci:{new}:x"), ([], f"oci:{existing}:x"), ([], f"dir:{dir_dest}"),
                        (["--compression-format", "zstd"], f"oci:{existing}:x")):  # this one recompresses
        proc = pyb(store, "push", *flags, image_id, dest, check=False)
        assert proc.returncode != 0, proc.stdout
        unchanged()
        assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("Error"), \
            proc.stderr
    subprocess.run(["skopeo", "inspect", f"oci:{existing}:old"], check=True, capture_output=True, timeout=120)
