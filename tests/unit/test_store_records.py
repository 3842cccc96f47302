"""Typed store records read the JSON stores already have, and write it back the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybuild.builder.records import BlobRef, ImageRecord, LayerInfo, ManifestRef, TarOptions
from pybuild.builder.store import Store
from pybuild.errors import StoreError
from pybuild.oci.digest import Digest

D1, D2, M, B = ("sha256:" + c * 64 for c in "1234")
CONFIG = "ab" * 32

# as pybuild wrote them before the records were typed (a pull, then a build)
PULLED = {"id": CONFIG, "names": ["docker.io/library/busybox:latest"], "layers": [D1], "created": "2024-01-01T00:00:00Z",
          "manifest": {"digest": M, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layer_sizes": [10240]}}
BUILT = {"id": "cd" * 32, "names": ["localhost/out:latest"], "layers": [D1, D2], "created": ""}
PULLED_LAYER = {"blobs": {"gzip": {"digest": B, "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "size": 812}}, "diff_id": D1, "size": 10240, "tar_options": {"exact": False}}
BUILT_LAYER = {"blobs": {}, "diff_id": D2, "size": 3, "tar_options": {"timestamp": 0}}


@pytest.mark.parametrize("data", [PULLED, BUILT])
def test_image_records_round_trip_todays_json(data: dict[str, object]) -> None:
    rec = ImageRecord.from_json(data)
    assert rec.to_json() == data
    assert ImageRecord.from_json(rec.to_json()) == rec
    assert all(isinstance(d, Digest) for d in rec.layers)


@pytest.mark.parametrize("data", [PULLED_LAYER, BUILT_LAYER])
def test_layer_info_round_trips_todays_json(data: dict[str, object]) -> None:
    info = LayerInfo.from_json(data)
    assert info.to_json() == data
    assert LayerInfo.from_json(info.to_json()) == info


def _old_store(root: Path) -> Store:
    Store(root)  # the directories, as any version makes them
    (root / "images.json").write_text(json.dumps([PULLED, BUILT], indent=1) + "\n")
    for info in (PULLED_LAYER, BUILT_LAYER):
        d = root / "layers" / Digest(str(info["diff_id"])).hex
        d.mkdir(parents=True)
        (d / "info.json").write_text(json.dumps(info, sort_keys=True))
    return Store(root)


def test_a_store_written_in_todays_format_opens_typed_and_is_rewritten_the_same(tmp_path: Path) -> None:
    store = _old_store(tmp_path / "root")
    pulled, built = store.images()
    assert pulled.manifest == ManifestRef(Digest(M), "application/vnd.oci.image.manifest.v1+json", (10240,))
    assert built.manifest is None and built.layers == [Digest(D1), Digest(D2)]
    assert store.find_image("busybox") == pulled
    assert store.layer_info(D1).blobs["gzip"] == BlobRef(Digest(B), 812, "application/vnd.oci.image.layer.v1.tar+gzip")
    assert store.layer_info(D1).tar_options == TarOptions(exact=False)
    assert store.layer_info(D2).tar_options.writer_options() == {"timestamp": 0}
    store.tag("out", "again")
    data = json.loads((store.root / "images.json").read_bytes())
    assert data == [PULLED, {**BUILT, "names": ["localhost/out:latest", "localhost/again:latest"]}]


def test_a_record_that_is_not_an_image_record_is_one_line(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    (store.root / "images.json").write_text('[{"names": []}]')
    with pytest.raises(StoreError, match=r"images.json is corrupt: a record is not an image record") as e:
        store.images()
    assert "\n" not in str(e.value)
    (store.root / "images.json").write_text(json.dumps([{**BUILT, "layers": ["not-a-digest"]}]))
    with pytest.raises(StoreError, match="is corrupt"):
        store.images()


# a `pybuild from busybox` container after a run (mounted, then unmounted), as written before
CONTAINER = {"id": "ef" * 32, "name": "busybox-working-container", "image_id": CONFIG,
             "image_name": "docker.io/library/busybox:latest", "base_layers": [D1], "layers": [D1, D2],
             "created": 1700000000.5, "internal": False, "pid": 4242, "driver": "overlay",
             "config": {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
                        "rootfs": {"type": "layers", "diff_ids": [D1]}},
             "mounted": False, "security_opts": ["no-new-privileges"], "run_defaults": {"user": "1000"},
             "annotations": {"a": "b"}, "user_mounted": True, "from_a_newer_pybuild": 1}


def test_container_state_reads_todays_json_and_keeps_what_it_does_not_know() -> None:
    from pybuild.builder.records import ContainerState

    state = ContainerState.from_json(CONTAINER)
    assert state.layers == [Digest(D1), Digest(D2)] and all(isinstance(d, Digest) for d in state.base_layers)
    assert (state.name, state.pid, state.mounted, state.user_mounted) == ("busybox-working-container", 4242,
                                                                         False, True)
    assert state.security_opts == ["no-new-privileges"] and state.run_defaults == {"user": "1000"}
    assert state.to_json() == {k: v for k, v in CONTAINER.items() if k != "mounted"}  # false: left out
    assert ContainerState.from_json(state.to_json()) == state


def test_a_container_written_in_todays_format_is_listed_and_renamed(tmp_path: Path) -> None:
    from pybuild.builder import workflow

    store = _old_store(tmp_path / "root")
    d = store.root / "containers" / str(CONTAINER["id"])
    d.mkdir()
    (d / "state.json").write_text(json.dumps(CONTAINER, indent=1))
    (wc,) = workflow.containers(store)
    assert wc.name == "busybox-working-container" and wc.layers == [D1, D2]
    assert wc.config.config.env == ["PATH=/bin"]
    workflow.rename(store, wc, "renamed")
    data = json.loads((d / "state.json").read_bytes())
    assert data["name"] == "renamed" and data["from_a_newer_pybuild"] == 1 and data["layers"] == [D1, D2]
    assert workflow.get(store, "renamed").state.user_mounted


def test_a_cache_entry_in_todays_format_hits_and_a_malformed_one_is_a_miss(tmp_path: Path) -> None:
    from pybuild.builder import cache

    store = _old_store(tmp_path / "root")
    config, _ = store.layout.put_bytes(b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}')
    today = {"config": str(config), "inputs": {"instruction": {"kind": "RUN", "argv": ["true"]}}, "layers": [D1, D2]}
    for layer in (D1, D2):
        (store.layer_dir(layer) / "diff").mkdir()
    path = store.root / "cache" / "keys" / "aa" / ("aa" * 32 + ".json")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(today, sort_keys=True))
    hit = cache.lookup(store, "aa" * 32)
    assert hit is not None and hit.layers == [Digest(D1), Digest(D2)] and hit.config == config
    assert hit.to_json() == today
    assert cache.referenced(store) == ({D1, D2}, {str(config)})
    cache.record(store, "bb" * 32, layers=[D1], config=str(config), inputs={"x": 1})
    assert json.loads((store.root / "cache" / "keys" / "bb" / ("bb" * 32 + ".json")).read_bytes()) == {
        "config": str(config), "inputs": {"x": 1}, "layers": [D1]}
    path.write_text(json.dumps({"layers": [D1]}))  # no config: not an entry
    assert cache.lookup(store, "aa" * 32) is None


def test_image_meta_reads_todays_json_and_unreadable_meta_is_the_default(tmp_path: Path) -> None:
    from pybuild.builder.records import AttestationRef, ImageMeta

    today = {"format": "docker", "annotations": {"org.example": "x"}, "compression": None,
             "attestations": [{"predicateType": "https://spdx.dev/Document", "digest": B, "size": 12}]}
    store = _old_store(tmp_path / "root")
    (store.root / "image-meta").mkdir()
    (store.root / "image-meta" / f"{CONFIG}.json").write_text(json.dumps(today))
    meta = store.image_meta(CONFIG)
    assert meta == ImageMeta("docker", {"org.example": "x"}, None,
                             [AttestationRef("https://spdx.dev/Document", Digest(B), 12)])
    assert meta.to_json() == today
    store.set_image_meta(CONFIG, meta)
    assert json.loads((store.root / "image-meta" / f"{CONFIG}.json").read_bytes()) == today
    (store.root / "image-meta" / f"{CONFIG}.json").write_text('{"attestations": [{"digest": 1}]}')
    assert store.image_meta(CONFIG) == ImageMeta() == store.image_meta("cd" * 32)
