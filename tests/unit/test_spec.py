"""OCI documents: strict parsing, Go-compatible output, Docker conversion."""

from __future__ import annotations

import json

import pytest

from pybuild.errors import ConfigError, IntegrityError, UnsupportedError
from pybuild.oci.spec import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    ContainerConfig,
    Descriptor,
    History,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    compression_of,
    go_json,
    layer_media_type,
    parse_manifest,
    rfc3339,
    to_docker_manifest,
    to_oci_manifest,
)

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64

# as written by skopeo/buildah (Go encoding/json field order, compact)
GO_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    f'"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{A}","size":1234}},'
    f'"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{B}","size":99}}],'
    '"annotations":{"org.opencontainers.image.base.name":"docker.io/library/busybox:latest"}}'
).encode()

GO_DOCKER_MANIFEST = (
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1234,"digest":"{A}"}},'
    f'"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":99,"digest":"{B}"}}]}}'
).encode()

GO_INDEX = (
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
    f'{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{A}","size":10,'
    '"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},'
    f'{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{B}","size":11,'
    '"annotations":{"vnd.docker.reference.type":"attestation-manifest"},'
    '"platform":{"architecture":"unknown","os":"unknown"}}]}'
).encode()

GO_CONFIG = (
    '{"created":"2024-05-01T10:00:00.123456789Z","author":"me","architecture":"amd64","os":"linux",'
    '"config":{"User":"1000","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin","A=b<c>&d"],'
    '"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"WorkingDir":"/app","Labels":{"k":"v"},'
    '"StopSignal":"SIGTERM"},'
    f'"rootfs":{{"type":"layers","diff_ids":["{C}"]}},'
    '"history":[{"created":"2024-05-01T10:00:00Z","created_by":"/bin/sh -c #(nop) ADD file","empty_layer":true}]}'
)


def test_oci_manifest_round_trips_byte_for_byte() -> None:
    m = parse_manifest(GO_MANIFEST, OCI_MANIFEST)
    assert isinstance(m, Manifest)
    assert m.config.digest == A and m.layers[0].size == 99
    assert m.to_json() == GO_MANIFEST


def test_docker_manifest_round_trips_with_docker_field_order() -> None:
    m = parse_manifest(GO_DOCKER_MANIFEST, DOCKER_MANIFEST)
    assert isinstance(m, Manifest) and m.is_docker
    assert m.to_json() == GO_DOCKER_MANIFEST


def test_index_round_trips_and_keeps_platforms() -> None:
    idx = parse_manifest(GO_INDEX, None)
    assert isinstance(idx, Index)
    assert idx.manifests[0].platform == Platform("linux", "arm64", "v8")
    assert idx.manifests[1].platform is not None and idx.manifests[1].platform.is_unknown()
    assert idx.to_json() == GO_INDEX


def test_config_round_trips_byte_for_byte_with_go_escapes() -> None:
    cfg = ImageConfig.from_json(GO_CONFIG.replace("<", "\\u003c").replace(">", "\\u003e")
                                .replace("&", "\\u0026").encode())
    assert cfg.config.env == ["PATH=/bin", "A=b<c>&d"]
    assert cfg.config.user == "1000" and cfg.config.working_dir == "/app"
    assert cfg.history[0].empty_layer is True
    expected = GO_CONFIG.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    assert cfg.to_json() == expected.encode()


def test_config_unknown_keys_survive() -> None:
    raw = json.dumps({"architecture": "amd64", "os": "linux", "docker_version": "20.10",
                      "container_config": {"Hostname": "x"},
                      "config": {"Hostname": "abc", "Env": ["A=1"]},
                      "rootfs": {"type": "layers", "diff_ids": []},
                      "history": [{"created_by": "x", "comment": "c", "future": 1}]}).encode()
    out = json.loads(ImageConfig.from_json(raw).to_json())
    assert out["docker_version"] == "20.10"
    assert out["container_config"] == {"Hostname": "x"}
    assert out["config"]["Hostname"] == "abc"
    assert out["history"][0]["future"] == 1


def test_docker_only_fields_dropped_for_oci_kept_for_docker() -> None:
    cfg = ImageConfig(architecture="amd64", os="linux",
                      config=ContainerConfig(healthcheck={"Test": ["CMD", "true"]}, on_build=["RUN x"],
                                             shell=["/bin/bash", "-c"], cmd=["x"]))
    oci = json.loads(cfg.to_json())["config"]
    docker = json.loads(cfg.to_json(docker=True))["config"]
    assert set(oci) == {"Cmd"}
    assert docker["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert docker["OnBuild"] == ["RUN x"] and docker["Shell"] == ["/bin/bash", "-c"]


def test_config_field_order_is_gos() -> None:
    cfg = ImageConfig(architecture="arm64", os="linux", variant="v8", created="2024-01-01T00:00:00Z",
                      author="a", history=[History(created_by="x")])
    keys = list(json.loads(cfg.to_json()))
    assert keys == ["created", "author", "architecture", "os", "variant", "config", "rootfs",
                    "history"]
    assert b": " not in cfg.to_json() and b", " not in cfg.to_json()


def test_set_env_replaces_in_place() -> None:
    c = ContainerConfig(env=["A=1", "PATH=/bin", "B=2"])
    c.set_env("PATH", "/usr/bin")
    c.set_env("C", "3")
    assert c.env == ["A=1", "PATH=/usr/bin", "B=2", "C=3"]
    assert c.get_env("PATH") == "/usr/bin" and c.get_env("Z") is None


@pytest.mark.parametrize("raw, media_type", [
    # a manifest that also lists manifests (CVE-2021-41190)
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                 "config": {"mediaType": OCI_CONFIG, "digest": A, "size": 1}, "layers": [],
                 "manifests": []}).encode(), OCI_MANIFEST),
    # an index carrying layers
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}).encode(), OCI_INDEX),
    # no mediaType and both shapes
    (json.dumps({"schemaVersion": 2, "manifests": [], "config": {}, "layers": []}).encode(), None),
    # served as an index but declares itself a manifest
    (GO_MANIFEST, OCI_INDEX),
])
def test_ambiguous_documents_are_refused(raw: bytes, media_type: str | None) -> None:
    with pytest.raises(IntegrityError):
        parse_manifest(raw, media_type)


def test_duplicate_keys_are_refused() -> None:
    raw = GO_MANIFEST[:-1] + b',"layers":[]}'
    with pytest.raises(IntegrityError, match="duplicate"):
        parse_manifest(raw, OCI_MANIFEST)
    with pytest.raises(IntegrityError, match="duplicate"):
        ImageConfig.from_json(b'{"os":"linux","os":"windows"}')


def test_oversized_documents_are_refused() -> None:
    big = GO_MANIFEST[:-1] + b',"annotations2":"' + b"x" * (4 << 20) + b'"}'
    with pytest.raises(IntegrityError, match="limit"):
        parse_manifest(big, OCI_MANIFEST)


@pytest.mark.parametrize("digest", ["sha256:../../x", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256:abc"])
def test_hostile_digests_in_descriptors_are_refused(digest: str) -> None:
    raw = GO_MANIFEST.replace(B.encode(), digest.encode())
    with pytest.raises(IntegrityError):
        parse_manifest(raw, OCI_MANIFEST)


@pytest.mark.parametrize("size", ["-1", "1.5", '"9"', "true"])
def test_bad_sizes_are_refused(size: str) -> None:
    raw = GO_MANIFEST.replace(b'"size":99', b'"size":' + size.encode())
    with pytest.raises(IntegrityError):
        parse_manifest(raw, OCI_MANIFEST)


def test_schema1_is_unsupported_and_garbage_is_integrity_error() -> None:
    with pytest.raises(UnsupportedError):
        parse_manifest(b'{"schemaVersion":1,"name":"x","fsLayers":[]}', None)
    with pytest.raises(IntegrityError):
        parse_manifest(b"not json", OCI_MANIFEST)
    with pytest.raises(IntegrityError):
        parse_manifest(b"[1,2]", OCI_MANIFEST)


def test_oci_to_docker_and_back() -> None:
    m = parse_manifest(GO_MANIFEST, OCI_MANIFEST)
    assert isinstance(m, Manifest)
    d = to_docker_manifest(m)
    assert d.media_type == DOCKER_MANIFEST and d.config.media_type == DOCKER_CONFIG
    assert d.layers[0].media_type == DOCKER_LAYER_GZIP
    assert "annotations" not in json.loads(d.to_json())
    back = to_oci_manifest(d)
    assert back.media_type == OCI_MANIFEST and back.layers[0].media_type == OCI_LAYER_GZIP
    assert back.config.media_type == OCI_CONFIG


def test_zstd_layer_cannot_become_docker() -> None:
    m = Manifest(Descriptor(OCI_CONFIG, A, 1), [Descriptor(OCI_LAYER_ZSTD, B, 2)])
    with pytest.raises(UnsupportedError, match="gzip"):
        to_docker_manifest(m)
    with pytest.raises(UnsupportedError):
        layer_media_type("zstd", docker=True)


def test_index_to_manifest_list() -> None:
    idx = parse_manifest(GO_INDEX, OCI_INDEX)
    assert isinstance(idx, Index)
    lst = to_docker_manifest(idx)
    assert lst.media_type == DOCKER_MANIFEST_LIST
    assert all(e.media_type == DOCKER_MANIFEST for e in lst.manifests)
    assert to_oci_manifest(lst).manifests[0].media_type == OCI_MANIFEST


def test_layer_media_types_and_compression() -> None:
    assert layer_media_type("gzip") == OCI_LAYER_GZIP
    assert layer_media_type("none", docker=True) == DOCKER_LAYER
    assert layer_media_type("none") == OCI_LAYER
    assert compression_of(OCI_LAYER_ZSTD) == "zstd"
    assert compression_of(DOCKER_LAYER_GZIP) == "gzip"
    assert compression_of(OCI_LAYER) == "none"
    with pytest.raises(ConfigError):
        layer_media_type("lz4")


def test_platform_parse_and_match() -> None:
    p = Platform.parse("linux/arm64/v8")
    assert str(p) == "linux/arm64/v8"
    assert Platform.parse("linux/arm64").matches(p)  # arm64 defaults to v8
    assert not Platform.parse("linux/arm/v6").matches(Platform.parse("linux/arm/v7"))
    assert Platform.parse("linux/arm").matches(Platform.parse("linux/arm/v7"))
    assert not Platform.parse("linux/amd64").matches(p)
    with pytest.raises(ConfigError):
        Platform.parse("linux//x")


def test_go_json_escapes_like_go() -> None:
    assert go_json({"a": "<&>", "b": "é"}) == '{"a":"\\u003c\\u0026\\u003e","b":"é"}'.encode()


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1.5) == "1970-01-01T00:00:01.5Z"


# as buildah writes a docker-format config: Docker's field order, null and empty values kept
BUILDAH_DOCKER_CONFIG = (
    '{"created":"2026-11-28T03:01:42.753305335Z","container":"9c1d","container_config":{"Hostname":"",'
    '"User":"1","Env":["A=1"],"Cmd":["/x"],"Image":"","Volumes":null,"Entrypoint":null,"OnBuild":[]},'
    '"config":{"Hostname":"","Domainname":"","User":"1","AttachStdin":false,"ExposedPorts":{"80":{}},'
    '"Env":["A=1"],"Cmd":["/x"],"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},'
    '"Image":"","Volumes":null,"WorkingDir":"/w","Entrypoint":null,"OnBuild":[],"Labels":{"k":"v"},'
    '"StopSignal":"TERM"},"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":'
    f'["{C}"]}},"history":[{{"created":"2026-11-28T03:01:42.753691451Z","created_by":"/bin/sh"}}]}}'
).encode()


def test_docker_config_read_and_written_again_keeps_its_bytes() -> None:
    cfg = ImageConfig.from_json(BUILDAH_DOCKER_CONFIG)
    assert cfg.config.healthcheck == {"Test": ["CMD", "true"], "Interval": 30000000000}
    assert cfg.to_json(docker=True) == BUILDAH_DOCKER_CONFIG
    assert cfg.copy().to_json(docker=True) == BUILDAH_DOCKER_CONFIG
    # edits still show, in place
    edited = cfg.copy()
    edited.config.entrypoint = ["/bin/app"]
    edited.config.on_build = ["RUN x"]
    out = json.loads(edited.to_json(docker=True))["config"]
    assert out["Entrypoint"] == ["/bin/app"] and out["OnBuild"] == ["RUN x"]
    assert list(out).index("Entrypoint") == list(json.loads(BUILDAH_DOCKER_CONFIG)["config"]).index("Entrypoint")
    # and the OCI form drops the Docker-only fields
    assert "Healthcheck" not in json.loads(cfg.to_json())["config"]


def test_config_maps_are_written_with_sorted_keys_like_go() -> None:
    from pybuild.oci.spec import ContainerConfig, ImageConfig

    cfg = ImageConfig(architecture="amd64", config=ContainerConfig(
        labels={"b": "2", "a": "1"}, exposed_ports={"8080/tcp": {}, "53/udp": {}},
        volumes={"/z": {}, "/a": {}}))
    raw = cfg.to_json().decode()
    assert raw.index('"a":"1"') < raw.index('"b":"2"')
    assert raw.index('"53/udp"') < raw.index('"8080/tcp"')
    assert raw.index('"/a"') < raw.index('"/z"')


def test_configs_compare_by_value_but_not_by_the_key_order_they_were_read_in() -> None:
    made = ImageConfig(architecture="amd64", os="linux", config=ContainerConfig(env=["A=1"], cmd=["sh"]),
                       history=[History(created_by="x", empty_layer=True)])
    read = ImageConfig.from_json(b'{"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]},'
                                 b'"config":{"Cmd":["sh"],"Env":["A=1"]},'
                                 b'"history":[{"empty_layer":true,"created_by":"x"}]}')
    assert read == made and read.copy() == made
    read.config.env.append("B=2")
    assert read != made and made.config.env == ["A=1"]  # no shared default lists
    assert ImageConfig().config is not ImageConfig().config
    assert repr(History(created_by="x")) == ("History(created=None, created_by='x', author='', comment='', "
                                             "empty_layer=False, extra={})")
