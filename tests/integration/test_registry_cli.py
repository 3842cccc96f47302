"""The registry verbs as a new user meets them: push, pull, `image inspect|copy|list-tags`,
login, against a real docker-registry, checked with skopeo; and the faults a registry or a
network produces (wrong credentials, a corrupted blob, a connection reset mid-blob)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from cli_helpers import blob_files, build_busybox, images, pyb, sha256, skopeo
from registry_fixtures import Fault, FaultProxy, Registry, make_image, write_oci_layout

pytestmark = [pytest.mark.root, pytest.mark.integration]

HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
OTHER_ARCH = "arm64" if HOST_ARCH != "arm64" else "amd64"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_busybox(tmp_path_factory.mktemp("registry-cli"))


@pytest.fixture(scope="module")
def pushed(base: tuple[Path, str], registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox pushed to the registry as cli/busybox:1; returns the manifest digest."""
    root, _ = base
    digestfile = tmp_path_factory.mktemp("digest") / "d"
    pyb(root, "push", "--digestfile", str(digestfile), "busybox", f"docker://{registry.host}/cli/busybox:1")
    return digestfile.read_text().strip()


def test_push_then_pull_into_an_empty_store_keeps_the_digest(base: tuple[Path, str], registry: Registry,
                                                             pushed: str, tmp_path: Path) -> None:
    _, image_id = base
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/cli/busybox:1").stdout
    assert sha256(raw) == pushed
    empty = tmp_path / "empty"
    out = pyb(empty, "pull", f"{registry.host}/cli/busybox:1")
    assert out.stdout.strip().splitlines()[-1] == image_id
    [img] = images(empty)
    assert img["digest"] == pushed
    assert img["names"] == [f"{registry.host}/cli/busybox:1"]
    # the pulled image runs through the store's own push again with the same digest
    again = tmp_path / "again.digest"
    pyb(empty, "push", "--digestfile", str(again), f"{registry.host}/cli/busybox:1",
        f"docker://{registry.host}/cli/again:1")
    assert again.read_text() == pushed


def test_skopeo_copies_out_what_pybuild_pushed(registry: Registry, pushed: str, tmp_path: Path) -> None:
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/cli/busybox:1", f"oci:{tmp_path}/out:bb")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [pushed]


def test_pybuild_pulls_what_skopeo_pushed_index_and_zstd(registry: Registry, tmp_path: Path) -> None:
    layout = tmp_path / "src"
    write_oci_layout(layout, {"multi": [(HOST_ARCH, make_image("host", arch=HOST_ARCH)),
                                        (OTHER_ARCH, make_image("other", arch=OTHER_ARCH))],
                              "one": make_image("zstd", layers=2)})
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:multi", f"docker://{registry.host}/sk/multi:1")
    skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", "zstd", f"oci:{layout}:one",
           f"docker://{registry.host}/sk/zstd:1")
    root = tmp_path / "root"
    # an index: the host's platform lands in the store
    pyb(root, "pull", f"docker://{registry.host}/sk/multi:1")
    pyb(root, "pull", f"docker://{registry.host}/sk/zstd:1")
    by_name = {n: i for i in images(root) for n in i["names"]}  # type: ignore[attr-defined]
    host_child = json.loads(skopeo("inspect", "--tls-verify=false", "--config",
                                   f"docker://{registry.host}/sk/multi:1").stdout)
    assert host_child["architecture"] == HOST_ARCH
    multi = by_name[f"{registry.host}/sk/multi:1"]
    config = json.loads(pyb(root, "inspect", "--format", "{{json .OCIv1}}", str(multi["id"])).stdout)
    assert config["architecture"] == HOST_ARCH
    zraw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/sk/zstd:1").stdout
    assert all(x["mediaType"].endswith("+zstd") for x in json.loads(zraw)["layers"])
    assert by_name[f"{registry.host}/sk/zstd:1"]["digest"] == sha256(zraw)
    # every platform, out of the registry into a layout, index digest kept
    pyb(root, "image", "copy", "--all", f"docker://{registry.host}/sk/multi:1", f"oci:{tmp_path}/all:m")
    iraw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/sk/multi:1").stdout
    out_index = json.loads((tmp_path / "all" / "index.json").read_text())
    assert [m["digest"] for m in out_index["manifests"]] == [sha256(iraw)]
    skopeo("copy", "--all", f"oci:{tmp_path}/all:m", f"oci:{tmp_path}/verified:m")  # skopeo checks each blob


def test_image_inspect_matches_skopeo(registry: Registry, pushed: str) -> None:
    ref = f"docker://{registry.host}/cli/busybox:1"
    ours = json.loads(pyb(Path("/nonexistent-unused"), "image", "inspect", ref).stdout)
    theirs = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    for key in ("Name", "Digest", "RepoTags", "Created", "Architecture", "Os", "Layers", "Env", "Labels"):
        assert ours[key] == theirs[key], key
    assert ours["Digest"] == pushed
    raw = pyb(Path("/nonexistent-unused"), "image", "inspect", "--raw", ref).stdout
    assert sha256(raw.encode()) == pushed
    ours_cfg = json.loads(pyb(Path("/nonexistent-unused"), "image", "inspect", "--config", ref).stdout)
    assert ours_cfg == json.loads(skopeo("inspect", "--tls-verify=false", "--config", ref).stdout)


def test_image_copy_registry_to_registry_and_recompress(base: tuple[Path, str], registry: Registry, pushed: str,
                                                        tmp_path: Path) -> None:
    root, _ = base
    blobs_before = blob_files(root)
    digestfile = tmp_path / "d"
    out = pyb(root, "image", "copy", "--digestfile", str(digestfile), f"docker://{registry.host}/cli/busybox:1",
              f"docker://{registry.host}/cli/copied:1")
    assert digestfile.read_text() == pushed
    assert blob_files(root) == blobs_before  # streamed, never landed in the store
    # not a TTY: one plain line per blob, not two
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("Copying blob")]
    assert len(lines) == len(set(lines)) == 4, out.stderr
    quiet = pyb(root, "image", "copy", "-q", "--dest-compress-format", "zstd",
                f"docker://{registry.host}/cli/copied:1", f"docker://{registry.host}/cli/zstd:1")
    assert "Copying blob" not in quiet.stderr + quiet.stdout
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/cli/zstd:1").stdout)
    assert all(x["mediaType"].endswith("+zstd") for x in raw["layers"])
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/cli/zstd:1", f"oci:{tmp_path}/z:z")
    pyb(root, "image", "copy", "-q", "--format", "docker", f"docker://{registry.host}/cli/copied:1",
        f"docker-archive:{tmp_path}/bb.tar:bb:latest")
    info = json.loads(skopeo("inspect", f"docker-archive:{tmp_path}/bb.tar").stdout)
    assert info["Architecture"] == HOST_ARCH


def test_list_tags_follows_every_page(registry: Registry, pushed: str, proxy: FaultProxy) -> None:
    root = Path("/nonexistent-unused")
    for tag in ("2", "3", "4", "5"):
        pyb(root, "image", "copy", "-q", f"docker://{registry.host}/cli/busybox:1",
            f"docker://{registry.host}/cli/busybox:{tag}")
    proxy.inject(Fault("GET", r"/tags/list", "paginate", times=10))
    out = json.loads(pyb(root, "image", "list-tags", "--page-size", "2", f"docker://{proxy.host}/cli/busybox").stdout)
    pages = [p for m, p, _ in proxy.log if m == "GET" and "/tags/list" in p]
    assert len(pages) == 3, pages
    assert out["Repository"] == f"{proxy.host}/cli/busybox"
    assert sorted(out["Tags"]) == ["1", "2", "3", "4", "5"]


def test_login_with_wrong_credentials_is_one_line_and_writes_nothing(basic_registry: Registry, authfile: Path,
                                                                     tmp_path: Path) -> None:
    root = tmp_path / "root"
    out = pyb(root, "login", "--authfile", str(authfile), "-u", "user", "-p", "wrong", basic_registry.host,
              check=False)
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and basic_registry.host in out.stderr
    assert not authfile.exists()
    pyb(root, "login", "--authfile", str(authfile), "-u", "user", "-p", "pass", basic_registry.host)
    assert basic_registry.host in json.loads(authfile.read_text())["auths"]


def test_a_blob_with_the_wrong_digest_is_refused_and_nothing_is_stored(base: tuple[Path, str], pushed: str,
                                                                       proxy: FaultProxy, tmp_path: Path) -> None:
    root = tmp_path / "root"
    pyb(root, "images")  # an empty store
    before = blob_files(root)
    proxy.inject(Fault("GET", r"/blobs/sha256:", "corrupt", times=100))
    out = pyb(root, "pull", f"docker://{proxy.host}/cli/busybox:1", check=False)
    assert out.returncode != 0
    assert "digest" in out.stderr.lower() and "Traceback" not in out.stderr
    assert images(root) == []
    assert blob_files(root) == before


def test_a_connection_reset_mid_blob_resumes(base: tuple[Path, str], pushed: str, proxy: FaultProxy,
                                             tmp_path: Path) -> None:
    _, image_id = base
    root = tmp_path / "root"
    proxy.inject(Fault("GET", r"/blobs/sha256:", "reset", times=2))
    out = pyb(root, "pull", f"docker://{proxy.host}/cli/busybox:1")
    assert out.stdout.strip().splitlines()[-1] == image_id
    ranged = [h for m, p, h in proxy.log if m == "GET" and "/blobs/" in p and "range" in h]
    assert ranged, "the resumed download should ask for the rest with Range"
    [img] = images(root)
    assert img["digest"] == pushed
