"""`--format docker` and `--format oci` of the same content are two images, as in buildah: the
Docker config differs (container_config), so the ID differs, and building one never turns the
other's tag into the other format. Checked with skopeo and umoci."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = "FROM busybox\nCOPY a /a\nENV X=1\n"


def _raw(spec: str, *flags: str) -> dict[str, object]:
    out = subprocess.run(["skopeo", "inspect", "--raw", *flags, spec], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def test_oci_and_docker_builds_of_the_same_content_are_two_images(tmp_path: Path) -> None:
    need_tool("skopeo")
    need_tool("umoci")
    root, _ = build_busybox(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").write_text("a\n")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    ids = {}
    for fmt in ("oci", "docker", "oci"):  # the third: rebuilding OCI after docker changes neither
        ids.setdefault(fmt, set()).add(
            pyb(root, "bud", "-q", "--format", fmt, "-t", f"img-{fmt}", str(ctx)).stdout.strip().splitlines()[-1])
    assert len(ids["oci"]) == 1 and len(ids["docker"]) == 1
    assert ids["oci"] != ids["docker"]
    listed = json.loads(pyb(root, "images", "--json").stdout)
    by_name = {n: img["id"] for img in listed for n in img["names"]}
    assert by_name["localhost/img-oci:latest"] != by_name["localhost/img-docker:latest"]

    layout = tmp_path / "layout"
    pyb(root, "push", "img-oci", f"oci:{layout}:oci")
    assert _raw(f"oci:{layout}:oci")["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert "container_config" not in _raw(f"oci:{layout}:oci", "--config")
    subprocess.run(["umoci", "stat", "--image", f"{layout}:oci"], check=True, capture_output=True, timeout=120)
    archive = tmp_path / "d.tar"
    pyb(root, "push", "img-docker", f"docker-archive:{archive}:img:latest")
    assert _raw(f"docker-archive:{archive}")["mediaType"] == \
        "application/vnd.docker.distribution.manifest.v2+json"
    assert "container_config" in _raw(f"docker-archive:{archive}", "--config")
    oci_inspect = json.loads(pyb(root, "inspect", "img-oci").stdout)
    docker_inspect = json.loads(pyb(root, "inspect", "img-docker").stdout)
    assert oci_inspect["Docker"]["config"]["Env"] == docker_inspect["Docker"]["config"]["Env"]
