"""Registry time and size bounds, and decompression bombs, against fault servers on 127.0.0.1.

Each test configures short bounds (1-2 s) through pybuild.conf ($PYBUILD_CONF) or
RegistryOptions, and checks what a user sees: one line naming the bound that stopped the
transfer, a non-zero exit, and no temp file left (blobs/.tmp-*, tmp/PID-unpack-*, layout
temp files). Every subprocess is bounded (SUBPROCESS_BOUND) so a regression fails, never hangs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from registry_fixtures import Fault, FaultProxy, Registry, SampleImage, SilentServer, make_image

from pybuild.errors import IntegrityError, RegistryError
from pybuild.oci.digest import Digest
from pybuild.oci.registry.client import RegistryOptions, RetryPolicy
from pybuild.oci.registry.transport import inspect, open_destination, open_source
from pybuild.oci.spec import parse_manifest

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_total=10.0)
SUBPROCESS_BOUND = 90  # seconds: far above every configured bound, far below the old behaviour
HUGE = 10**15


def push(host: str, name: str, image: SampleImage, *, layer_size: int | None = None) -> bytes:
    """Push ``image``; with ``layer_size`` its manifest claims that size for the first layer
    (distribution does not check it). Returns the manifest pushed."""
    raw = image.manifest
    if layer_size is not None:
        doc = json.loads(raw)
        doc["layers"][0]["size"] = layer_size
        raw = json.dumps(doc).encode()
    with open_destination(f"{host}/{name}", RegistryOptions(retry=FAST)) as dst:
        doc = parse_manifest(image.manifest, image.media_type)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            if not dst.has_blob(desc):
                dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(raw, image.media_type)
    return raw


def layer_digest(image: SampleImage) -> str:
    return str(json.loads(image.manifest)["layers"][0]["digest"])


def conf(tmp_path: Path, **tables: dict[str, object]) -> dict[str, str]:
    """A pybuild.conf with these tables; the environment that selects it."""
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "pybuild.conf"
    path.write_text("\n".join(lines) + "\n")
    return {"PYBUILD_CONF": str(path)}


def run(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYBUILD_")}
    return subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), *args], capture_output=True,
                          text=True, env={**clean, "CI": "1", **env}, timeout=SUBPROCESS_BOUND)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The failure as the user sees it: non-zero exit, one error line last on stderr (after
    any progress lines), no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("Error")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    return errors[0]


def leftovers(root: Path) -> list[str]:
    """Temp files a failed transfer could leave in a store or layout."""
    found = [str(p.relative_to(root)) for p in root.rglob(".tmp-*")]
    tmp = root / "tmp"
    if tmp.is_dir():
        found += [f"tmp/{p.name}" for p in tmp.iterdir()]
    return found


def stored_images(root: Path) -> list[object]:
    path = root / "images.json"
    return list(json.loads(path.read_text())) if path.exists() else []


def pull_through_fault(registry: Registry, proxy: FaultProxy, tmp_path: Path, name: str, image: SampleImage,
                       fault: Fault | None, *, layer_size: int | None = None,
                       **registry_conf: object) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Push ``image`` (its first layer claiming ``layer_size``), arm ``fault`` on that layer's
    GET, ``pybuild pull -q`` it through the proxy with ``[registry]`` set; (store root, result)."""
    push(registry.host, name, image, layer_size=layer_size)
    if fault is not None:
        fault.path = f"/blobs/{layer_digest(image)}"
        proxy.inject(fault)
    root = tmp_path / "root"
    env = conf(tmp_path, registry=registry_conf) if registry_conf else {}
    return root, run(root, "pull", "-q", f"docker://{proxy.host}/{name}", env=env)


# --- time bounds -----------------------------------------------------------------------------------


def test_a_registry_that_accepts_and_never_answers_gives_up_naming_the_bound(tmp_path: Path) -> None:
    server = SilentServer()
    try:
        env = conf(tmp_path, registry={"connect_timeout": "1s", "idle_timeout": "1s"})
        proc = run(tmp_path / "root", "pull", f"docker://{server.host}/app:1", env=env)
    finally:
        server.stop()
    line = one_error_line(proc)
    assert server.host in line
    assert "1 s (connect_timeout)" in line or "1 s (idle_timeout)" in line
    assert server.accepted >= 1
    assert leftovers(tmp_path / "root") == []


def test_a_request_the_registry_never_answers_is_not_retried(registry: Registry, proxy: FaultProxy,
                                                              tmp_path: Path) -> None:
    image = make_image("hang")
    push(registry.host, "bounds/hang:1", image)
    proxy.inject(Fault("GET", "/manifests/1", "hang", times=5))
    proc = run(tmp_path / "root", "pull", "-q", f"docker://{proxy.host}/bounds/hang:1",
               env=conf(tmp_path, registry={"idle_timeout": "1s"}))
    line = one_error_line(proc)
    assert f"{proxy.host}/bounds/hang:1: registry {proxy.host} sent nothing for 1 s (idle_timeout)" in line
    assert len([p for m, p, _ in proxy.log if m == "GET" and p.endswith("/manifests/1")]) == 1


def test_the_library_takes_the_bounds_as_options() -> None:
    server = SilentServer()
    try:
        opts = RegistryOptions(connect_timeout=1.0, idle_timeout=1.0, retry=FAST)
        with pytest.raises(RegistryError) as e, open_source(f"{server.host}/app:1", opts) as src:
            src.get_manifest()
    finally:
        server.stop()
    assert "\n" not in str(e.value)
    assert "(connect_timeout)" in str(e.value) or "(idle_timeout)" in str(e.value)


def test_a_blob_that_stalls_mid_body_ends_in_one_line_and_leaves_no_temp_file(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    image = make_image("stall", layer_size=300_000)
    root, proc = pull_through_fault(registry, proxy, tmp_path, "bounds/stall:1", image,
                                    Fault("GET", "", "stall", times=10), idle_timeout="1s")
    line = one_error_line(proc)
    assert "stalled at byte" in line and "1 s (idle_timeout)" in line
    assert layer_digest(image) in line
    # one resume with Range after the first stall, then the second stall ended it
    gets = [h for m, p, h in proxy.log if m == "GET" and layer_digest(image) in p]
    assert len(gets) == 2 and "range" in gets[1]
    assert leftovers(root) == []
    assert stored_images(root) == []


def test_one_stall_is_resumed_as_a_dropped_connection(registry: Registry, proxy: FaultProxy,
                                                      tmp_path: Path) -> None:
    image = make_image("stall once", layer_size=300_000)
    push(registry.host, "bounds/stall-once:1", image)
    proxy.inject(Fault("GET", f"/blobs/{layer_digest(image)}", "stall", times=1))
    opts = RegistryOptions(idle_timeout=1.0, retry=FAST)
    with open_source(f"{proxy.host}/bounds/stall-once:1", opts) as src:
        raw, mt = src.get_manifest()
        desc = parse_manifest(raw, mt).layers[0]  # type: ignore[union-attr]
        with src.get_blob(desc) as f:
            assert f.read() == image.blobs[desc.digest]


def test_an_endless_body_behind_a_huge_descriptor_stops_at_the_blob_timeout(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    image = make_image("endless")
    root, proc = pull_through_fault(registry, proxy, tmp_path, "bounds/endless:1", image,
                                    Fault("GET", "", "endless", times=5, headers={"Content-Length": str(HUGE)}),
                                    layer_size=HUGE, blob_timeout="2s", idle_timeout="5s", max_blob_size="2PB")
    line = one_error_line(proc)
    assert "took longer than 2 s (blob_timeout" in line
    assert leftovers(root) == []
    assert stored_images(root) == []


def test_an_endless_body_is_read_only_up_to_the_descriptor_size(registry: Registry, proxy: FaultProxy,
                                                                tmp_path: Path) -> None:
    """The right bytes, then zeros without end: the pull takes the descriptor's bytes and stops."""
    image = make_image("endless but right", layer_size=100_000)
    root, proc = pull_through_fault(registry, proxy, tmp_path, "bounds/endless-right:1", image,
                                    Fault("GET", "", "endless", times=5), blob_timeout="20s", idle_timeout="5s")
    assert proc.returncode == 0, proc.stderr
    blob = root / "blobs" / "sha256" / Digest(layer_digest(image)).hex
    assert blob.read_bytes() == image.blobs[layer_digest(image)]
    assert leftovers(root) == []


# --- size bounds ------------------------------------------------------------------------------------


def test_a_descriptor_above_the_default_maximum_is_refused_before_any_byte(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    image = make_image("petabyte")
    root, proc = pull_through_fault(registry, proxy, tmp_path, "bounds/huge:1", image, None, layer_size=HUGE)
    line = one_error_line(proc)
    assert f"claims {HUGE} bytes, more than max_blob_size (64.0 GiB)" in line
    assert not [p for m, p, _ in proxy.log if m == "GET" and layer_digest(image) in p]
    assert leftovers(root) == []
    assert stored_images(root) == []


def test_the_maximum_blob_size_is_configurable(registry: Registry, tmp_path: Path) -> None:
    image = make_image("big enough", layer_size=200_000)
    push(registry.host, "bounds/configured:1", image)
    root = tmp_path / "root"
    proc = run(root, "pull", f"docker://{registry.host}/bounds/configured:1",
               env=conf(tmp_path, registry={"max_blob_size": "100KiB"}))
    assert "more than max_blob_size (100.0 KiB)" in one_error_line(proc)
    with pytest.raises(IntegrityError, match="max_blob_size"), \
            open_source(f"{registry.host}/bounds/configured:1", RegistryOptions(max_blob_size=1000)) as src:
        raw, mt = src.get_manifest()
        src.get_blob(parse_manifest(raw, mt).layers[0])  # type: ignore[union-attr]
    assert leftovers(root) == []


# --- reading a config to its end (issue 10 item 13) ------------------------------------------------


def test_inspect_reads_a_config_that_arrives_in_pieces(registry: Registry, proxy: FaultProxy,
                                                       tmp_path: Path) -> None:
    image = make_image("big config", labels={f"label.{i}": "v" * 40 for i in range(120)})
    cfg = json.loads(image.manifest)["config"]
    assert cfg["size"] > 4096
    push(registry.host, "bounds/config:1", image)
    proxy.inject(Fault("GET", f"/blobs/{cfg['digest']}", "trickle", times=1, piece=512))
    proc = run(tmp_path / "root", "image", "inspect", "--config", f"docker://{proxy.host}/bounds/config:1", env={})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["config"]["Labels"]["label.119"] == "v" * 40
    proxy.inject(Fault("GET", f"/blobs/{cfg['digest']}", "trickle", times=1, piece=512))
    out = inspect(f"{proxy.host}/bounds/config:1", RegistryOptions(retry=FAST))
    assert out["raw_config"] == image.blobs[cfg["digest"]]


# --- decompression bombs ---------------------------------------------------------------------------

BOMB = {"zeros": bytes(48 << 20)}  # 48 MiB of zeros: about 48 KiB as gzip, a ratio near 1000
BOMB_CONF = {"max_ratio": 50, "ratio_floor": "1MiB"}


def test_a_gzip_bomb_stops_where_image_copy_recompresses(registry: Registry, tmp_path: Path) -> None:
    image = make_image("bomb", files=BOMB)
    push(registry.host, "bounds/bomb:1", image)
    layout = tmp_path / "layout"
    proc = run(tmp_path / "root", "image", "copy", "--dest-compress-format", "zstd",
               f"docker://{registry.host}/bounds/bomb:1", f"oci:{layout}:bomb",
               env=conf(tmp_path, layers=BOMB_CONF))
    line = one_error_line(proc)
    assert "over 50 times its compressed size" in line and "max_ratio" in line
    assert layer_digest(image) in line
    index = layout / "index.json"
    assert not index.exists() or "bomb" not in index.read_text()
    if layout.exists():
        assert leftovers(layout) == []


def test_a_gzip_bomb_stops_where_a_docker_archive_stores_layers_uncompressed(registry: Registry,
                                                                             tmp_path: Path) -> None:
    image = make_image("bomb to archive", files=BOMB)
    push(registry.host, "bounds/bomb-archive:1", image)
    out = tmp_path / "out"
    proc = run(tmp_path / "root", "image", "copy", f"docker://{registry.host}/bounds/bomb-archive:1",
               f"docker-archive:{out / 'bomb.tar'}:bomb:1", env=conf(tmp_path, layers={"max_size": "8MiB"}))
    line = one_error_line(proc)
    assert "exceeds the limit of 8.0 MiB (max_size of [layers])" in line and layer_digest(image) in line
    assert list(out.iterdir()) == []  # neither the archive nor its staging directory


@pytest.mark.root
def test_a_gzip_bomb_pulled_into_the_store_stops_during_the_pull(registry: Registry, tmp_path: Path) -> None:
    """Pull decompresses each layer as it streams in (to check its diff_id): a bomb stops
    there, with nothing stored, rather than at first use."""
    image = make_image("bomb in store", files=BOMB)
    push(registry.host, "bounds/bomb-store:1", image)
    root = tmp_path / "root"
    env = conf(tmp_path, layers={"max_size": "8MiB"})
    proc = run(root, "pull", "-q", f"docker://{registry.host}/bounds/bomb-store:1", env=env)
    line = one_error_line(proc)
    assert "exceeds the limit of 8.0 MiB (max_size of [layers])" in line
    assert layer_digest(image) in line
    assert leftovers(root) == []
    assert stored_images(root) == []
    assert not list(root.glob("layers/*/diff"))


# --- buildah's --retry / --retry-delay ---------------------------------------------------------------


@pytest.mark.parametrize(("flags", "gets"), [(["--retry", "0"], 1), (["--retry", "2", "--retry-delay", "10ms"], 3)])
def test_retry_flags_set_how_often_a_failed_request_is_tried(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                            flags: list[str], gets: int) -> None:
    image = make_image("retry")
    push(registry.host, "bounds/retry:1", image)
    proxy.inject(Fault("GET", "/manifests/1", "status", times=10, status=503))
    proc = run(tmp_path / "root", "pull", "-q", *flags, f"docker://{proxy.host}/bounds/retry:1", env={})
    assert "HTTP 503" in one_error_line(proc)
    assert len([p for m, p, _ in proxy.log if m == "GET" and p.endswith("/manifests/1")]) == gets


def test_a_bad_retry_delay_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path / "root", "pull", "--retry-delay", "soon", "docker://127.0.0.1:1/app:1", env={})
    assert "--retry-delay: 'soon' is not a duration" in one_error_line(proc)
