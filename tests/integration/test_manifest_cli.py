"""`pybuild manifest create|add|inspect|push`: a two-platform list made from a local image and
a registry image, pushed, read back by skopeo and pulled by pybuild."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from cli_helpers import build_busybox, images, pyb, sha256, skopeo
from registry_fixtures import Registry, make_image, write_oci_layout

pytestmark = [pytest.mark.root, pytest.mark.integration]

HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_busybox(tmp_path_factory.mktemp("manifest-cli"))


@pytest.fixture(scope="module")
def other(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image of the other architecture, in the registry only (pushed by skopeo)."""
    layout = tmp_path_factory.mktemp("other") / "layout"
    write_oci_layout(layout, {"o": make_image("other", arch=OTHER_ARCH, layers=2)})
    ref = f"docker://{registry.host}/ml/other:1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:o", ref)
    return ref


def _index(out: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(out)
    return doc


def test_two_platform_list_pushed_read_by_skopeo_and_pulled(base: tuple[Path, str], registry: Registry, other: str,
                                                            tmp_path: Path) -> None:
    root, image_id = base
    pyb(root, "manifest", "create", "two")
    pyb(root, "manifest", "add", "two", "busybox")
    pyb(root, "manifest", "add", "two", other)
    index = _index(pyb(root, "manifest", "inspect", "two").stdout)
    platforms = sorted(m["platform"]["architecture"] for m in index["manifests"])  # type: ignore[attr-defined, index]
    assert platforms == sorted([HOST_ARCH, OTHER_ARCH])

    dest = f"docker://{registry.host}/ml/two:1"
    digestfile = tmp_path / "digest"
    pyb(root, "manifest", "push", "--digestfile", str(digestfile), "two", dest)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout
    assert sha256(raw) == digestfile.read_text()
    assert json.loads(raw)["manifests"] == index["manifests"]  # the list as inspected is what was pushed
    assert _index(pyb(root, "manifest", "inspect", dest).stdout) == json.loads(raw)
    # skopeo verifies every blob of every platform as it copies
    skopeo("copy", "--all", "--src-tls-verify=false", dest, f"oci:{tmp_path}/out:two")
    # pybuild pulls the host's platform: the local image it came from
    fresh = tmp_path / "fresh"
    out = pyb(fresh, "pull", dest)
    assert out.stdout.strip().splitlines()[-1] == image_id
    # and the whole index copies out of the registry with its digest
    pyb(fresh, "image", "copy", "-q", "--all", dest, f"oci:{tmp_path}/all:two")
    out_index = json.loads((tmp_path / "all" / "index.json").read_text())
    assert [m["digest"] for m in out_index["manifests"]] == [digestfile.read_text()]


def test_create_with_images_and_arch_override(base: tuple[Path, str], registry: Registry, other: str,
                                              tmp_path: Path) -> None:
    root, _ = base
    pyb(root, "manifest", "create", "withargs", "busybox", other)
    index = _index(pyb(root, "manifest", "inspect", "withargs").stdout)
    assert len(index["manifests"]) == 2  # type: ignore[arg-type]
    pyb(root, "manifest", "create", "variant")
    pyb(root, "manifest", "add", "--arch", "arm", "--variant", "v7", "--annotation", "team=x", "variant", "busybox")
    entries: list[dict[str, object]] = _index(pyb(root, "manifest", "inspect", "variant").stdout)["manifests"]  # type: ignore[assignment]
    [entry] = entries
    assert entry["platform"] == {"architecture": "arm", "os": "linux", "variant": "v7"}
    assert entry["annotations"] == {"team": "x"}


def test_list_survives_gc_and_errors_are_one_line(base: tuple[Path, str], registry: Registry, other: str,
                                                  tmp_path: Path) -> None:
    root, _ = base
    pyb(root, "manifest", "create", "kept")
    pyb(root, "manifest", "add", "kept", other)
    # removing an unrelated image runs the store's gc: the list and its blobs stay
    pyb(root, "tag", "busybox", "scratchname")
    pyb(root, "rmi", "scratchname")
    assert any("busybox" in str(n) for i in images(root) for n in i["names"])  # type: ignore[attr-defined]
    index = _index(pyb(root, "manifest", "inspect", "kept").stdout)
    assert len(index["manifests"]) == 1  # type: ignore[arg-type]
    pyb(root, "manifest", "push", "-q", "kept", f"docker://{registry.host}/ml/kept:1")
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{registry.host}/ml/kept:1", f"oci:{tmp_path}/k:k")

    again = pyb(root, "manifest", "create", "kept", check=False)
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
    assert "already exists" in again.stderr
    pyb(root, "manifest", "create", "--amend", "kept")
    pyb(root, "manifest", "create", "empty")
    empty = pyb(root, "manifest", "push", "empty", f"docker://{registry.host}/ml/empty:1", check=False)
    assert empty.returncode != 0 and "empty" in empty.stderr
    missing = pyb(root, "manifest", "inspect", "nosuchlist", check=False)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
