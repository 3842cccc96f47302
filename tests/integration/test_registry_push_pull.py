"""Push and pull against a real registry (distribution 2.8) through the docker:// transport."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from registry_fixtures import Fault, FaultProxy, Registry, SampleImage, make_image

from pybuild.errors import DigestMismatch, RegistryError, RegistryNotFound
from pybuild.oci.digest import Digest
from pybuild.oci.registry.client import RegistryOptions, RetryPolicy
from pybuild.oci.registry.transport import inspect, list_tags, open_destination, open_source
from pybuild.oci.spec import Descriptor, parse_manifest

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=4, base_delay=0.05, max_delay=2.0, max_total=20.0)


def push(host: str, name: str, image: SampleImage, options: RegistryOptions | None = None) -> None:
    with open_destination(f"{host}/{name}", options or RegistryOptions(retry=FAST)) as dst:
        doc = parse_manifest(image.manifest, image.media_type)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            if not dst.has_blob(desc):
                dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(image.manifest, image.media_type)
        dst.commit()


def pull_all(host: str, name: str, options: RegistryOptions | None = None) -> tuple[bytes, dict[str, bytes]]:
    with open_source(f"{host}/{name}", options or RegistryOptions(retry=FAST)) as src:
        raw, mt = src.get_manifest()
        doc = parse_manifest(raw, mt)
        blobs = {}
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            with src.get_blob(desc) as f:
                blobs[desc.digest] = f.read()
        return raw, blobs


def test_push_then_pull_gives_the_same_bytes(registry: Registry) -> None:
    image = make_image("round trip", layers=2)
    push(registry.host, "rt/app:v1", image)
    raw, blobs = pull_all(registry.host, "rt/app:v1")
    assert raw == image.manifest
    assert blobs == image.blobs
    # by digest too
    raw2, _ = pull_all(registry.host, f"rt/app@{image.digest}")
    assert raw2 == image.manifest


def test_pull_of_a_missing_tag_names_image_and_registry(registry: Registry) -> None:
    with pytest.raises(RegistryNotFound) as e, open_source(f"{registry.host}/nothing/here:nope") as src:
        src.get_manifest()
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{registry.host}/nothing/here:nope" in msg
    assert "NAME_UNKNOWN" in msg or "MANIFEST_UNKNOWN" in msg


def test_chunked_upload_path(registry: Registry) -> None:
    proxy = FaultProxy(registry.host)
    try:
        image = make_image("chunky", layer_size=300_000)
        opts = RegistryOptions(retry=FAST, force_chunked=True, chunk_size=100_000)
        push(proxy.host, "chunked/app:1", image, opts)
        patches = [p for m, p, _ in proxy.log if m == "PATCH"]
        assert len(patches) >= 3
        raw, blobs = pull_all(registry.host, "chunked/app:1")
        assert raw == image.manifest and blobs == image.blobs
    finally:
        proxy.stop()


def test_cross_repository_mount(proxy: FaultProxy) -> None:
    image = make_image("mount me", layer_size=1000)
    push(proxy.host, "mount/src:1", image)
    doc = parse_manifest(image.manifest)
    layer = doc.layers[0]  # type: ignore[union-attr]
    hinted = Descriptor(layer.media_type, layer.digest, layer.size)
    opts = RegistryOptions(retry=FAST, mount_from={str(layer.digest): "mount/src"})
    proxy.log.clear()
    with open_destination(f"{proxy.host}/mount/dst:1", opts) as dst:
        dst.put_blob(hinted, io.BytesIO(b""))  # mounted: the stream is never read
        assert dst.has_blob(hinted)
    posts = [p for m, p, _ in proxy.log if m == "POST"]
    assert posts and "mount=" in posts[0] and "from=mount%2Fsrc" in posts[0]
    assert not any(m in ("PUT", "PATCH") for m, _, _ in proxy.log)


def test_list_tags_follows_pagination(registry: Registry) -> None:
    image = make_image("tags")
    tags = [f"t{i}" for i in range(7)]
    for t in tags:
        push(registry.host, f"paged/app:{t}", image)
    proxy = FaultProxy(registry.host)
    proxy.inject(Fault("GET", "/tags/list", "paginate", times=100))
    try:
        got = list_tags(f"docker://{proxy.host}/paged/app", RegistryOptions(retry=FAST), page_size=3)
        assert sorted(got) == tags
        pages = [p for m, p, _ in proxy.log if m == "GET" and "/tags/list" in p]
        assert len(pages) >= 3
    finally:
        proxy.stop()


def test_inspect_reads_manifest_and_config_only(proxy: FaultProxy) -> None:
    image = make_image("inspect", layer_size=5000)
    push(proxy.host, "insp/app:1", image)
    proxy.log.clear()
    info = inspect(f"{proxy.host}/insp/app:1", RegistryOptions(retry=FAST))
    assert info["raw_manifest"] == image.manifest
    assert info["digest"] == Digest(image.digest)
    assert info["config"]["architecture"] == "amd64"
    layer = parse_manifest(image.manifest).layers[0]  # type: ignore[union-attr]
    assert not any(str(layer.digest) in p for _, p, _ in proxy.log)


def test_wrong_digest_from_registry_is_refused(proxy: FaultProxy, tmp_path: Path) -> None:
    from pybuild.oci.layout import Layout

    image = make_image("corrupt", layer_size=2000)
    push(proxy.host, "bad/app:1", image)
    layer = parse_manifest(image.manifest).layers[0]  # type: ignore[union-attr]
    proxy.inject(Fault("GET", f"/blobs/{layer.digest}", "corrupt"))
    layout = Layout.create(tmp_path / "out")
    with open_source(f"{proxy.host}/bad/app:1", RegistryOptions(retry=FAST)) as src:
        src.get_manifest()
        with pytest.raises(DigestMismatch):
            layout.put_blob(src.get_blob(layer), layer.digest, layer.size)
    assert not layout.has_blob(layer.digest)


def test_manifest_with_wrong_digest_is_refused(proxy: FaultProxy) -> None:
    image = make_image("corrupt manifest")
    push(proxy.host, "badm/app:1", image)
    proxy.inject(Fault("GET", "/manifests/", "corrupt"))
    with pytest.raises(DigestMismatch), \
            open_source(f"{proxy.host}/badm/app@{image.digest}", RegistryOptions(retry=FAST)) as src:
        src.get_manifest()
    # by tag: the registry's Docker-Content-Digest header catches it
    proxy.inject(Fault("GET", "/manifests/1", "corrupt"))
    with pytest.raises(DigestMismatch, match="Docker-Content-Digest"), \
            open_source(f"{proxy.host}/badm/app:1", RegistryOptions(retry=FAST)) as src:
        src.get_manifest()


def test_connection_reset_mid_blob_resumes_with_range(proxy: FaultProxy) -> None:
    image = make_image("resume", layer_size=400_000)
    push(proxy.host, "resume/app:1", image)
    layer = parse_manifest(image.manifest).layers[0]  # type: ignore[union-attr]
    proxy.inject(Fault("GET", f"/blobs/{layer.digest}", "reset"))
    proxy.log.clear()
    with open_source(f"{proxy.host}/resume/app:1", RegistryOptions(retry=FAST)) as src:
        src.get_manifest()
        with src.get_blob(layer) as f:
            data = f.read()
    assert data == image.blobs[layer.digest]
    gets = [h for m, p, h in proxy.log if m == "GET" and str(layer.digest) in p]
    assert len(gets) == 2 and "range" not in gets[0] and gets[1]["range"].startswith("bytes=")
    assert gets[1]["range"] != "bytes=0-"


def test_429_with_retry_after_is_retried(proxy: FaultProxy) -> None:
    image = make_image("busy")
    push(proxy.host, "busy/app:1", image)
    proxy.inject(Fault("GET", "/manifests/1", "status", status=429, headers={"Retry-After": "1"}))
    proxy.log.clear()
    raw, _ = pull_all(proxy.host, "busy/app:1")
    assert raw == image.manifest
    assert len([p for m, p, _ in proxy.log if m == "GET" and "/manifests/1" in p]) == 2


def test_persistent_5xx_gives_up_with_one_line(proxy: FaultProxy) -> None:
    proxy.inject(Fault("GET", "/manifests/", "status", times=50, status=503))
    with pytest.raises(RegistryError) as e, \
            open_source(f"{proxy.host}/down/app:1", RegistryOptions(retry=FAST)) as src:
        src.get_manifest()
    assert "503" in str(e.value) and "\n" not in str(e.value)


def test_index_children_pushed_by_digest_before_index(registry: Registry) -> None:
    a, b = make_image("amd", arch="amd64"), make_image("arm", arch="arm64")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
                            {"mediaType": a.media_type, "digest": a.digest, "size": len(a.manifest),
                             "platform": {"architecture": "amd64", "os": "linux"}},
                            {"mediaType": b.media_type, "digest": b.digest, "size": len(b.manifest),
                             "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
    with open_destination(f"{registry.host}/multi/app:1", RegistryOptions(retry=FAST)) as dst:
        for img in (a, b):
            for d, data in img.blobs.items():
                dst.put_blob(Descriptor("application/octet-stream", Digest(d), len(data)), io.BytesIO(data))
            dst.put_manifest(img.manifest, img.media_type, top_level=False)
        dst.put_manifest(index, "application/vnd.oci.image.index.v1+json")
    with open_source(f"{registry.host}/multi/app:1") as src:
        raw, mt = src.get_manifest()
        assert raw == index and mt == "application/vnd.oci.image.index.v1+json"
        child, _ = src.get_manifest(Digest(b.digest))
        assert child == b.manifest
    info = inspect(f"{registry.host}/multi/app:1", platform="linux/arm64")
    assert info["config"]["architecture"] == "arm64"
