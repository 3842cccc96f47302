"""--cache-to/--cache-from/--cache-ttl values and the cache manifest's table (pure code)."""

from __future__ import annotations

import json

import pytest

from pybuild.builder import cache_format as fmt
from pybuild.builder.cache_spec import BUNDLE, LOCAL, PER_KEY, parse_cache_from, parse_cache_to, parse_ttl
from pybuild.errors import ConfigError, IntegrityError
from pybuild.oci import spec
from pybuild.oci.digest import Digest


def test_buildkit_spelling() -> None:
    loc = parse_cache_to("type=registry,ref=127.0.0.1:5000/team/cache:main,mode=max,compression=zstd")
    assert (loc.kind, loc.ref, loc.mode, loc.compression) == (BUNDLE, "127.0.0.1:5000/team/cache:main", "max", "zstd")
    assert parse_cache_from("type=registry,ref=127.0.0.1:5000/c").ref == "127.0.0.1:5000/c:latest"
    assert parse_cache_to("type=local,dest=/tmp/c").kind == LOCAL
    assert parse_cache_from("type=local,src=/tmp/c,tag=v1").tag == "v1"
    assert parse_cache_to("type=registry,ref=r.example/a:b").mode == "min"  # BuildKit's default


def test_buildah_spelling_is_a_repository() -> None:
    loc = parse_cache_from("127.0.0.1:5000/team/steps")
    assert (loc.kind, loc.ref) == (PER_KEY, "127.0.0.1:5000/team/steps")
    assert parse_cache_to("docker://quay.io/u/c").ref == "quay.io/u/c"


@pytest.mark.parametrize("value", ["type=inline", "type=gha", "type=registry", "type=local,src=/x",
                                   "type=registry,ref=r/x:y,mode=all", "type=registry,ref=r/x:y,image-manifest=true",
                                   "type=registry,ref=r/x@sha256:" + "0" * 64, "r.example/x:tag", "type=nope,ref=r/x",
                                   "type=local,dest=/x,ref=r/y", "type=registry,ref=r/x:y,compression=lz4"])
def test_what_is_not_done_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="^--cache-to"):
        parse_cache_to(value)


def test_ttl() -> None:
    assert parse_ttl("90s") == 90 and parse_ttl("1h30m") == 5400 and parse_ttl("0") == 0
    for bad in ("soon", "5 h", "h", "-1h", "5d"):
        with pytest.raises(ConfigError, match="--cache-ttl"):
            parse_ttl(bad)


def _manifest(entries: dict[str, object], with_config: bool = True) -> bytes:
    cfg = spec.Descriptor(fmt.STEP_CONFIG_MEDIA_TYPE, Digest.of_bytes(b"{}"), 2)
    return fmt.build_manifest({k: fmt.Entry(**v) for k, v in entries.items()},  # type: ignore[arg-type]
                              [cfg] if with_config else [])


def test_the_table_round_trips_and_hides_input_values() -> None:
    inputs = fmt.hash_inputs({"instruction": {"kind": "Run", "command": "'make'"}, "volumes": ["/home/me/src:/src"]})
    assert "/home/me" not in json.dumps(inputs) and inputs["instruction"]["kind"] == "Run"
    key = "a" * 64
    raw = _manifest({key: {"parent": "b" * 64, "layers": ["sha256:" + "c" * 64],
                           "config": str(Digest.of_bytes(b"{}")), "inputs": inputs, "created": 1.0}})
    table = fmt.parse_table(raw, "t")
    assert table.entries[key].layers == ["sha256:" + "c" * 64] and table.children("b" * 64)


@pytest.mark.parametrize("bad", [{"layers": ["not-a-digest"]}, {"config": "sha256:" + "d" * 64}, {"parent": None}])
def test_a_malformed_table_is_refused(bad: dict[str, object]) -> None:
    entry = {"parent": "b" * 64, "layers": [], "config": str(Digest.of_bytes(b"{}")), "inputs": {}, "created": 1.0}
    doc = json.loads(_manifest({"a" * 64: entry}))
    table = json.loads(doc["annotations"][fmt.ENTRIES])
    table["a" * 64].update(bad)
    doc["annotations"][fmt.ENTRIES] = json.dumps(table)
    with pytest.raises(IntegrityError):
        fmt.parse_table(json.dumps(doc).encode(), "t")


def test_a_plain_image_is_not_a_cache() -> None:
    img = spec.Manifest(config=spec.Descriptor(spec.OCI_CONFIG, Digest.of_bytes(b"{}"), 2), layers=[])
    with pytest.raises(IntegrityError, match="not a pybuild cache manifest"):
        fmt.parse_table(img.to_json(), "t")
