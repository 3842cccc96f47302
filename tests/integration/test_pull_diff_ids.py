"""Pull checks each layer's diff_id as it streams in: a layer whose uncompressed digest is not
the config's diff_id is refused with one line and nothing stored; the uncompressed size
measured on the way in is what `images` shows, the same as for the image built here and the
same after the layers are first unpacked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.cli_helpers import blob_files, build_busybox, images, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]


def _put(layout: Path, data: bytes) -> str:
    hexd = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / hexd).write_bytes(data)
    return "sha256:" + hexd


def _break_diff_id(layout: Path, index: int) -> str:
    """Rewrite the layout's image so its config names a wrong diff_id for layer ``index``."""
    idx = json.loads((layout / "index.json").read_text())
    mdesc = idx["manifests"][0]
    manifest = json.loads((layout / "blobs/sha256" / mdesc["digest"][7:]).read_bytes())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_bytes())
    wrong = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
    config["rootfs"]["diff_ids"][index] = wrong
    raw_config = json.dumps(config).encode()
    manifest["config"] = {**manifest["config"], "digest": _put(layout, raw_config), "size": len(raw_config)}
    raw_manifest = json.dumps(manifest).encode()
    idx["manifests"][0] = {**mdesc, "digest": _put(layout, raw_manifest), "size": len(raw_manifest)}
    (layout / "index.json").write_text(json.dumps(idx))
    return wrong


def _size_of(root: Path, image_id: str) -> int:
    for img in images(root):
        if img["id"] == image_id:
            return int(img["size"])  # type: ignore[call-overload]
    raise AssertionError(f"{image_id} not listed in {images(root)}")


def _pull(root: Path, spec: str) -> str:
    """Pull ``spec``; its image ID (names differ by transport, the ID does not)."""
    return pyb(root, "pull", "-q", spec).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A store with busybox, the same image pushed to an OCI layout (gzip layers), its ID."""
    work = tmp_path_factory.mktemp("pull-diffids")
    root, image_id = build_busybox(work)
    layout = work / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:busybox")
    return root, layout, image_id


def test_wrong_diff_id_is_refused_with_nothing_stored(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, layout, _ = built
    bad = tmp_path / "bad"
    import shutil

    shutil.copytree(layout, bad)
    wrong = _break_diff_id(bad, 1)
    fresh = tmp_path / "fresh"
    pyb(fresh, "images")  # the store exists, empty
    before = blob_files(fresh)
    proc = pyb(fresh, "pull", f"oci:{bad}:busybox", check=False)
    assert proc.returncode != 0
    err = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "diff_id" in err[0] and wrong in err[0], err[0]
    assert proc.stderr.strip().splitlines()[-1] == err[0]
    assert images(fresh) == []
    assert blob_files(fresh) == before
    assert not any((fresh / "layers").iterdir()) if (fresh / "layers").is_dir() else True


def test_pulled_size_is_the_built_size_before_and_after_first_use(built: tuple[Path, Path, str],
                                                                 tmp_path: Path) -> None:
    root, layout, image_id = built
    fresh = tmp_path / "fresh"
    assert _pull(fresh, f"oci:{layout}:busybox") == image_id
    built_size = _size_of(root, image_id)
    assert built_size > 1_000_000  # a static busybox
    assert _size_of(fresh, image_id) == built_size
    cid = pyb(fresh, "from", image_id).stdout.strip().splitlines()[-1]
    pyb(fresh, "run", cid, "--", "true")  # unpacks every layer
    assert _size_of(fresh, image_id) == built_size
