"""--cache-to / --cache-from through an OCI layout directory, without root: a second store
takes every step from the first's export, fetches layers only when needed, refuses a bad
layer and rebuilds what it answered, and explains a remote miss. In-process over vfs stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pybuild.builder.cache_spec import parse_cache_from, parse_cache_to
from pybuild.builder.sandbox.fake import FakeSandbox
from pybuild.builder.store import Store
from pybuild.events import INFO, WARNING
from tests.build_helpers import engine_build, image_tree, vfs_store

TEXT = "FROM scratch\nRUN echo one > /one\nCOPY src /src\nRUN echo two > /two\nLABEL l=v\n"


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    """The build context: the one file TEXT copies."""
    (tmp_path / "ctx" / "src").mkdir(parents=True)
    (tmp_path / "ctx" / "src" / "a.txt").write_text("a")
    return tmp_path / "ctx"


def from_cache(cache_dir: Path) -> dict[str, Any]:
    return {"cache_from": [parse_cache_from(f"type=local,src={cache_dir}")]}


def said(events: list[Any], kind: str, start: str) -> list[str]:
    return [e.message for e in events if e.kind == kind and e.message.startswith(start)]


def layer_blobs(cache_dir: Path) -> list[Path]:
    """The layer blobs the exported table names (by their diff-id annotation)."""
    blobs = cache_dir / "blobs" / "sha256"
    index = json.loads((cache_dir / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    return [blobs / d["digest"][7:] for d in manifest["layers"]
            if "dev.pybuild.cache.diff-id" in d.get("annotations", {})]


def exported(store: Store, ctx: Path, cache_dir: Path, text: str = TEXT) -> Any:
    image, _ = engine_build(store, ctx, text, cache_to=[parse_cache_to(f"type=local,dest={cache_dir}")],
                            output={"timestamp": 0})
    return image


def test_another_store_takes_every_step_from_the_exported_cache(ctx: Path, tmp_path: Path) -> None:
    first = exported(vfs_store(tmp_path / "a"), ctx, tmp_path / "cache")
    other = vfs_store(tmp_path / "b")
    sandbox = FakeSandbox()
    image, ev = engine_build(other, ctx, TEXT, sandbox, output={"timestamp": 0},
                             **from_cache(tmp_path / "cache"))
    assert ev.hits == 4 and sandbox.runs == []  # nothing ran: every step came from the cache
    assert image.id == first.id and image.layers == first.layers
    assert said(ev, INFO, "--> cache from:")[0].startswith("--> cache from: 4 steps, 3 layers fetched")
    assert image_tree(other, image)["two"][-1] == b"two\n"
    # the hits are in the local cache now: a rebuild asks the remote nothing
    again, ev = engine_build(other, ctx, TEXT, sandbox, output={"timestamp": 0})
    assert ev.hits == 4 and again.id == first.id and sandbox.runs == []


def test_a_layer_that_does_not_match_its_digest_is_rejected_and_its_steps_run(ctx: Path,
                                                                             tmp_path: Path) -> None:
    first = exported(vfs_store(tmp_path / "a"), ctx, tmp_path / "cache")
    blobs = layer_blobs(tmp_path / "cache")
    assert len(blobs) == 3
    for blob in blobs:  # every layer's bytes damaged (the table and configs kept)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.chmod(0o644)
        blob.write_bytes(bytes(data))
    other = vfs_store(tmp_path / "b")
    sandbox = FakeSandbox()
    image, ev = engine_build(other, ctx, TEXT, sandbox, output={"timestamp": 0},
                             **from_cache(tmp_path / "cache"))
    warned = said(ev, WARNING, "remote cache layer")
    assert warned and all("rejected" in w and "building the steps it answered" in w for w in warned)
    assert len(sandbox.runs) == 2  # both RUNs ran here in the end
    assert image.layers == first.layers and image_tree(other, image)["one"][-1] == b"one\n"


def test_explain_cache_says_why_the_remote_cache_missed(ctx: Path, tmp_path: Path) -> None:
    exported(vfs_store(tmp_path / "a"), ctx, tmp_path / "cache")
    changed = TEXT.replace("echo two", "echo three")
    _, ev = engine_build(vfs_store(tmp_path / "b"), ctx, changed, explain_cache=True,
                         **from_cache(tmp_path / "cache"))
    (miss, after) = said(ev, INFO, "--> Cache miss")
    assert ev.hits == 2  # RUN one and COPY, from the remote cache
    remote = f"; remote: {tmp_path / 'cache'} (latest): "
    assert miss.endswith(remote + "changed since the cached build: argv, instruction.command"), miss
    assert after.endswith(remote + "absent remotely (nothing cached after the previous step)"), after
