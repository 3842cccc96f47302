"""The local store through the CLI, as a user meets it: pull/push/images/tag/rmi/inspect,
checked with the reference tools (skopeo, umoci, runc), and kill-safety of pull and push."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import PYBUILD, blob_files, build_busybox, corrupt_biggest_layer, images, pyb
from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store holding a busybox image built from busybox-static, and that image's ID."""
    return build_busybox(tmp_path_factory.mktemp("store-cli"))


def _all_blobs_verify(root: Path) -> None:
    for name in blob_files(root):
        h = hashlib.sha256((root / "blobs" / "sha256" / name).read_bytes()).hexdigest()
        assert h == name, f"blob {name} in the store does not match its digest"


def test_push_is_read_by_skopeo_gzip_zstd_and_docker_archive(base: tuple[Path, str], tmp_path: Path) -> None:
    need_tool("skopeo")
    root, image_id = base
    for compression, media in (("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
                               ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd")):
        dest = tmp_path / f"layout-{compression}"
        pyb(root, "push", "--compression-format", compression, "busybox", f"oci:{dest}:busybox")
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{dest}:busybox"], capture_output=True,
                             text=True, check=True).stdout
        manifest = json.loads(raw)
        assert {layer["mediaType"] for layer in manifest["layers"]} == {media}
        info = json.loads(subprocess.run(["skopeo", "inspect", f"oci:{dest}:busybox"], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["Env"] and any(e.startswith("PATH=") for e in info["Env"])
        cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{dest}:busybox"],
                                        capture_output=True, text=True, check=True).stdout)
        assert hashlib.sha256(json.dumps(cfg).encode()).hexdigest()  # a config skopeo could parse
    archive = tmp_path / "busybox.tar"
    pyb(root, "push", "busybox", f"docker-archive:{archive}:busybox:latest")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["Architecture"] and len(info["Layers"]) >= 2


def test_umoci_unpacks_and_runc_runs_the_gzip_layout(base: tuple[Path, str], tmp_path: Path) -> None:
    need_tool("umoci")
    need_tool("runc")
    root, _ = base
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:v1")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:v1", str(bundle)], check=True, capture_output=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/sh", "-c", "echo ran-in-runc; cat /etc/passwd | head -1"]
    (bundle / "config.json").write_text(json.dumps(config))
    out = subprocess.run(["runc", "run", "--bundle", str(bundle), f"pybuild-test-{os.getpid()}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ran-in-runc" in out.stdout and "root:x:0:0" in out.stdout


def test_round_trip_keeps_the_manifest_digest(base: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = base
    a, b = tmp_path / "a", tmp_path / "b"
    pyb(root, "push", "busybox", f"oci:{a}:x")
    other = tmp_path / "other-root"
    image_id = pyb(other, "pull", f"oci:{a}:x").stdout.strip().splitlines()[-1]
    pyb(other, "push", image_id, f"oci:{b}:x")
    digest_a = json.loads((a / "index.json").read_text())["manifests"][0]["digest"]
    digest_b = json.loads((b / "index.json").read_text())["manifests"][0]["digest"]
    assert digest_a == digest_b
    # and the image was named after the layout's path, as buildah names it
    assert any(f"localhost{a}:latest" in str(i["names"]) for i in images(other))


def test_tag_rmi_and_lookups_by_id(base: tuple[Path, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(base[0], root, symlinks=True)
    image_id = base[1]
    pyb(root, "tag", image_id[:12], "myapp", "registry.example:5000/team/app:1.0")
    names = next(i["names"] for i in images(root) if i["id"] == image_id)
    assert {"localhost/myapp:latest", "registry.example:5000/team/app:1.0", "localhost/busybox:latest"} <= set(names)  # type: ignore[arg-type]
    assert pyb(root, "inspect", "--format", "{{.FromImageID}}", f"sha256:{image_id}").stdout.strip() == image_id
    assert pyb(root, "images", "-q").stdout.split() == [image_id[:12]]
    # removing one name keeps the image
    assert "untagged" in pyb(root, "rmi", "myapp").stdout
    assert images(root)
    # by ID with several names: refused without -f
    proc = pyb(root, "rmi", image_id, check=False)
    assert proc.returncode != 0 and "several names" in proc.stderr and "Traceback" not in proc.stderr
    pyb(root, "rmi", "-f", image_id)
    assert images(root) == []
    assert blob_files(root) == set() or all(not (root / "layers" / n).exists() for n in blob_files(root))


def test_user_errors_are_one_line(base: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = base
    for args, needle in ((("rmi", "no-such-image"), "no-such-image"),
                         (("inspect", "nope"), "nope"),
                         (("pull", f"oci:{tmp_path}/missing:x"), "missing"),
                         (("push", "busybox", "nosuchtransport:/x"), "nosuchtransport"),
                         (("tag", "busybox", "Bad/Upper:Case"), "Bad/Upper")):
        proc = pyb(root, *args, check=False)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], (args, proc.stderr)


def test_store_version_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pyb(root, "images")
    (root / "version").write_text("99\n")
    proc = pyb(root, "images", check=False)
    assert proc.returncode != 0 and "format version 99" in proc.stderr and "Traceback" not in proc.stderr


def test_pull_with_a_corrupt_blob_leaves_the_store_as_it_was(base: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = base
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:x")
    corrupt_biggest_layer(layout)
    other = tmp_path / "empty-root"
    pyb(other, "images")
    before = (blob_files(other), (other / "images.json").read_bytes())
    proc = pyb(other, "pull", f"oci:{layout}:x", check=False)
    assert proc.returncode != 0 and "digest" in proc.stderr.lower(), proc.stderr
    assert (blob_files(other), (other / "images.json").read_bytes()) == before


def _big_layout(root: Path, tmp_path: Path) -> Path:
    """An image of ~60 MB of incompressible data, exported to an OCI layout."""
    ctx = tmp_path / "bigctx"
    ctx.mkdir()
    for i in range(6):
        (ctx / f"blob{i}").write_bytes(os.urandom(10 << 20))
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY blob0 blob1 blob2 /a/\nCOPY blob3 blob4 blob5 /b/\n")
    pyb(root, "bud", "-q", "-t", "big", str(ctx))
    layout = tmp_path / "big-layout"
    pyb(root, "push", "big", f"oci:{layout}:big")
    return layout


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_sigkill_during_pull_and_push_leaves_a_consistent_store(base: tuple[Path, str], tmp_path: Path,
                                                                 delay: float) -> None:
    root, _ = base
    layout = _big_layout(root, tmp_path)
    target = tmp_path / "killed-root"
    pyb(target, "images")
    for args in (["pull", f"oci:{layout}:big"], ["push", "big", f"oci:{tmp_path}/out:big"]):
        where = target if args[0] == "pull" else root
        proc = subprocess.Popen([*PYBUILD, "--root", str(where), *args], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # the store opens, lists, and every visible blob is whole
        for img in images(where):
            pyb(where, "inspect", str(img["id"]))
        _all_blobs_verify(where)
    # a half-written layout is not a valid image: it either is complete or absent
    out_index = tmp_path / "out" / "index.json"
    if out_index.exists() and json.loads(out_index.read_text()).get("manifests"):
        subprocess.run(["skopeo", "inspect", f"oci:{tmp_path}/out:big"], check=True, capture_output=True)
    # and the next command completes the work
    image_id = pyb(target, "pull", f"oci:{layout}:big").stdout.strip().splitlines()[-1]
    assert any(i["id"] == image_id for i in images(target))
    _all_blobs_verify(target)
    leftovers = [p for p in (target / "tmp").iterdir()]
    assert leftovers == [], leftovers


def test_progress_json_is_one_event_per_line(base: tuple[Path, str], tmp_path: Path) -> None:
    root, image_id = base
    out = pyb(root, "push", "--progress", "json", "busybox", f"oci:{tmp_path}/layout:x").stdout
    events = [json.loads(line) for line in out.splitlines()]
    blobs = [e for e in events if e["kind"] == "blob"]
    assert blobs and all(e["done"] <= e["total"] for e in blobs)
    assert {e["digest"] for e in blobs if e["done"] == e["total"]} >= {f"sha256:{image_id}"}
    other = tmp_path / "other"
    pulled = [json.loads(line) for line in pyb(other, "pull", "--progress", "json",
                                               f"oci:{tmp_path}/layout:x").stdout.splitlines()]
    assert pulled[-1]["kind"] == "image" and pulled[-1]["id"] == image_id
