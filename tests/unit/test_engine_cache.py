"""The executor's step cache without root: keys, hits and misses, --explain-cache,
--layers=false, --no-cache, COPY/ADD content keys, and the WORKDIR/USER state a hit
leaves. In-process over a vfs store; RUN steps go to the fake sandbox."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pybuild.builder import cache
from pybuild.builder.sandbox.fake import FakeSandbox
from pybuild.builder.store import Store
from pybuild.events import INFO
from tests.build_helpers import engine_build, image_tree


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "src").mkdir(parents=True)
    (c / "src" / "a.txt").write_text("a")
    (c / "other.txt").write_text("other")
    return c


def misses(events: list[Any]) -> list[str]:
    return [e.message for e in events if e.kind == INFO and e.message.startswith("--> Cache miss")]


def entries(store: Store) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in (store.root / "cache" / "keys").glob("*/*.json")]


def test_an_unchanged_rebuild_hits_every_step_and_gives_the_same_image(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nENV A=1\nRUN echo one > /one\nCOPY src /src\nLABEL l=v\n"
    sandbox = FakeSandbox()
    first, ev1 = engine_build(store, ctx, text, sandbox)
    second, ev2 = engine_build(store, ctx, text, sandbox, explain_cache=True)
    assert (ev1.hits, ev2.hits) == (0, 4)
    assert second.id == first.id
    assert len(sandbox.runs) == 1  # the hit ran nothing
    assert misses(ev2) == []
    assert image_tree(store, second)["one"][-1] == b"one\n"


def test_a_changed_build_arg_misses_from_its_first_use_and_explain_names_it(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nARG V=1\nRUN touch /before\nRUN echo $V > /v\n"
    engine_build(store, ctx, text, build_args={"V": "1"})
    _, ev = engine_build(store, ctx, text, build_args={"V": "2"}, explain_cache=True)
    # ARG's own key holds its value: it misses, and everything after it
    assert ev.hits == 0
    said = misses(ev)
    assert "values" in said[0]
    engine_build(store, ctx, text, build_args={"V": "1"})  # back to the first: all hits again
    _, ev3 = engine_build(store, ctx, text, build_args={"V": "1"})
    assert ev3.hits == 3


def test_explain_cache_names_the_changed_instruction_field(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nRUN touch /a\nEXPOSE 80\n")
    _, ev = engine_build(store, ctx, "FROM scratch\nRUN touch /a\nEXPOSE 81\n", explain_cache=True)
    assert ev.hits == 1
    assert misses(ev) == ["--> Cache miss: changed since the cached build: instruction.ports"]


def test_explain_miss_when_nothing_was_recorded_after_the_parent(store: Store, ctx: Path) -> None:
    _, ev = engine_build(store, ctx, "FROM scratch\nRUN touch /a\n", explain_cache=True)
    assert misses(ev) == ["--> Cache miss: no step was cached after the previous one "
                          "(the previous step changed, or this is new)"]
    # a different kind of step after the same parent
    _, ev = engine_build(store, ctx, "FROM scratch\nLABEL a=b\n", explain_cache=True)
    assert misses(ev) == ["--> Cache miss: a different instruction was cached after the previous step"]


def test_explain_miss_when_the_cached_layers_are_gone(store: Store, ctx: Path) -> None:
    parent = cache.make_key({"base": "x"})
    inputs = {"instruction": {"kind": "Run", "command": "'true'"}}
    key = cache.make_key({"parent": parent, **inputs})
    cache.record(store, key, layers=["sha256:" + "0" * 64], config="sha256:" + "1" * 64, inputs=inputs,
                 parent=parent)
    assert cache.lookup(store, key) is None  # its layer is not in the store
    assert cache.explain_miss(store, parent, inputs) == "the cached result's layers are no longer in the store"
    assert cache.referenced(store) == ({"sha256:" + "0" * 64}, {"sha256:" + "1" * 64})
    assert cache.clear(store) == 1
    assert cache.referenced(store) == (set(), set())


def test_cache_keys_are_canonical_and_cover_every_input() -> None:
    assert cache.make_key({"a": 1, "b": [1, 2]}) == cache.make_key({"b": [1, 2], "a": 1})
    assert cache.make_key({"a": 1}) != cache.make_key({"a": 2})
    assert len(cache.make_key({})) == 64


def test_copy_keys_follow_content_not_mtimes_nor_files_not_copied(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nCOPY src /src\n"
    engine_build(store, ctx, text)
    os.utime(ctx / "src" / "a.txt", (1, 1))
    (ctx / "other.txt").write_text("changed, but not copied")
    _, ev = engine_build(store, ctx, text)
    assert ev.hits == 1
    (ctx / "src" / "a.txt").write_text("new")
    img, ev = engine_build(store, ctx, text, explain_cache=True)
    assert ev.hits == 0
    assert misses(ev) == ["--> Cache miss: changed since the cached build: sources"]
    assert image_tree(store, img)["src/a.txt"][-1] == b"new"
    (ctx / "src" / "b.txt").write_text("b")  # a new file under the copied directory
    _, ev = engine_build(store, ctx, text)
    assert ev.hits == 0


def test_copy_chmod_and_add_are_in_the_key(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nCOPY src/a.txt /a\n")
    img, ev = engine_build(store, ctx, "FROM scratch\nCOPY --chmod=600 src/a.txt /a\n", explain_cache=True)
    assert ev.hits == 0 and "instruction.chmod" in misses(ev)[0]
    assert image_tree(store, img)["a"][1] == "0o100600"
    _, ev = engine_build(store, ctx, "FROM scratch\nADD src/a.txt /a\n", explain_cache=True)
    assert ev.hits == 0


def test_no_cache_runs_every_step_but_records_them(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nRUN touch /a\n"
    sandbox = FakeSandbox()
    engine_build(store, ctx, text, sandbox)
    _, ev = engine_build(store, ctx, text, sandbox, no_cache=True)
    assert ev.hits == 0 and len(sandbox.runs) == 2
    _, ev = engine_build(store, ctx, text, sandbox)
    assert ev.hits == 1 and len(sandbox.runs) == 2


def test_layers_false_makes_one_layer_and_records_no_step(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nRUN touch /a\nENV E=1\nCOPY src /src\nRUN rm /a && touch /b\n"
    img, ev = engine_build(store, ctx, text, layers=False)
    assert len(img.layers) == 1
    assert entries(store) == []
    tree = image_tree(store, img)
    assert "a" not in tree and "b" in tree and "src/a.txt" in tree
    history = img.config.history
    assert [h.empty_layer for h in history] == [True, True, True, False]  # the last layer step owns it
    _, ev = engine_build(store, ctx, text, layers=False)
    assert ev.hits == 0  # nothing to hit
    with_layers, _ = engine_build(store, ctx, text)
    assert len(with_layers.layers) == 3


def test_a_failing_run_stops_the_build_with_its_line_and_records_nothing(store: Store, ctx: Path) -> None:
    from pybuild.errors import StepFailed

    with pytest.raises(StepFailed) as e:
        engine_build(store, ctx, "FROM scratch\nRUN touch /a\nRUN touch /b && exit 3\nRUN touch /c\n")
    assert e.value.where == "Containerfile:3" and e.value.status == 3
    assert "exit status 3" in str(e.value)
    assert len(entries(store)) == 1  # the first RUN only
    assert store.images() == []
    assert list((store.root / "containers").iterdir()) == []  # its containers are removed


def test_workdir_and_user_on_hits_and_misses(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nWORKDIR /w\nUSER 1000:1000\nRUN touch /x\nRUN echo ${V} > here\n"
    sandbox = FakeSandbox()
    first, _ = engine_build(store, ctx, text, sandbox, build_args={"V": "1"})
    second, ev = engine_build(store, ctx, "FROM scratch\nARG V\n" + text[len("FROM scratch\n"):], sandbox,
                              build_args={"V": "2"})
    spec = sandbox.runs[-1]
    assert (spec.cwd, spec.uid, spec.gid) == ("/w", 1000, 1000)  # a miss after hits sees their state
    third, ev = engine_build(store, ctx, text, sandbox, build_args={"V": "1"})
    assert ev.hits == 4 and third.id == first.id
    for img in (first, second):
        tree = image_tree(store, img)
        assert tree["w"][0] == "dir"  # the WORKDIR is made by the next layer, hit or run
        assert "w/here" in tree
    assert third.config.config.working_dir == "/w" and third.config.config.user == "1000:1000"


def test_a_workdir_after_hits_is_made_in_the_next_layer(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nWORKDIR /a/b\nCOPY src/a.txt x\n")
    img, ev = engine_build(store, ctx, "FROM scratch\nWORKDIR /a/b\nCOPY src/a.txt y\n")
    assert ev.hits == 1
    tree = image_tree(store, img)
    assert "a/b/y" in tree and "a/b/x" not in tree
    only_workdir, _ = engine_build(store, ctx, "FROM scratch\nWORKDIR /only\n")
    assert image_tree(store, only_workdir)["only"][0] == "dir"


def test_a_workdir_last_in_a_stage_is_cached_and_adds_a_layer_only_when_it_makes_one(store: Store,
                                                                                     ctx: Path) -> None:
    # a WORKDIR after the stage's last layer was made at every rebuild (a new layer, a new image
    # ID each time); now the cache answers it, and an existing directory adds no layer, as buildah
    exists = "FROM scratch\nRUN mkdir -p /home/app\nWORKDIR /home/app\nENV A=1\n"
    sandbox = FakeSandbox()
    first, _ = engine_build(store, ctx, exists, sandbox)
    second, ev = engine_build(store, ctx, exists, sandbox)
    assert second.id == first.id and ev.hits == 3
    assert len(first.config.rootfs_diff_ids) == 1  # the RUN's only
    missing = "FROM scratch\nWORKDIR /newdir/sub\n"
    made, _ = engine_build(store, ctx, missing)
    again, ev = engine_build(store, ctx, missing)
    assert again.id == made.id
    assert len(made.config.rootfs_diff_ids) == 1 and image_tree(store, made)["newdir/sub"][0] == "dir"


def test_a_cached_cmd_is_kept_by_a_later_entrypoint(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nCMD [\"c\"]\n")
    img, ev = engine_build(store, ctx, "FROM scratch\nCMD [\"c\"]\nENTRYPOINT [\"e\"]\n")
    assert ev.hits == 1
    assert (img.config.config.entrypoint, img.config.config.cmd) == (["e"], ["c"])


def test_proxy_build_args_reach_a_step_in_both_cases_and_stay_out_of_its_key(store: Store, ctx: Path) -> None:
    # BuildKit's testBuiltinArgs: no ARG needed; HTTP_PROXY and http_proxy both set; a changed
    # proxy reuses the step, a changed declared ARG does not
    text = "FROM scratch\nARG FOO\nRUN echo $HTTP_PROXY::$http_proxy::$NO_PROXY::$FOO > /out\n"
    sandbox = FakeSandbox()
    first, _ = engine_build(store, ctx, text, sandbox,
                            build_args={"FOO": "f1", "http_proxy": "hp1", "NO_PROXY": "np1"})
    assert image_tree(store, first)["out"][-1] == b"hp1::hp1::np1::f1\n"
    env = sandbox.runs[0].env
    assert {"HTTP_PROXY=hp1", "http_proxy=hp1", "NO_PROXY=np1", "no_proxy=np1", "FOO=f1"} <= set(env)
    engine_build(store, ctx, text, sandbox, build_args={"FOO": "f3", "Https_Proxy": "hs"})
    assert {"HTTPS_PROXY=hs", "https_proxy=hs"} <= set(sandbox.runs[-1].env)
    second, ev = engine_build(store, ctx, text, sandbox, build_args={"FOO": "f1", "http_proxy": "hp2"})
    assert ev.hits == 2 and second.id == first.id and len(sandbox.runs) == 2
    third, ev = engine_build(store, ctx, text, sandbox, build_args={"FOO": "f2", "http_proxy": "hp2"})
    assert ev.hits == 0 and image_tree(store, third)["out"][-1] == b"hp2::hp2::::f2\n"


def test_entrypoint_after_a_cmd_of_the_stage_and_after_an_inherited_one_are_two_steps(store: Store, ctx: Path) -> None:
    # BuildKit's testCmdShell: ENTRYPOINT keeps a CMD set in its own stage and clears an
    # inherited one; both reach ENTRYPOINT with the same parent config, so a shared key would
    # hand the second build the first one's CMD (tests/difftest/117-118 in one store found it)
    own, _ = engine_build(store, ctx, 'FROM scratch\nCMD ["test"]\nENTRYPOINT ["e"]\n')
    inherited, _ = engine_build(store, ctx, 'FROM scratch AS base\nCMD ["test"]\nFROM base\nENTRYPOINT ["e"]\n')
    assert own.config.config.cmd == ["test"]
    assert inherited.config.config.cmd is None
