"""Stages through the executor without root: scheduling (dependencies, --jobs, --target,
stages nobody needs), FROM a stage / an image / a build context, ONBUILD, the metadata
instructions, and what the final image gets (tags, labels, --squash, --timestamp,
--iidfile, -o). In-process over a vfs store; RUN steps go to the fake sandbox."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pybuild.builder.sandbox.fake import FakeSandbox
from pybuild.builder.sandbox.spec import RunSpec
from pybuild.builder.store import Store
from pybuild.errors import ImageNotFound, PybuildError
from pybuild.events import WARNING
from tests.build_helpers import engine_build, image_tree, user_config, vfs_store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    c.mkdir()
    (c / "f").write_text("f")
    return c


def marker(spec: RunSpec) -> str:
    return spec.argv[-1]


def test_independent_stages_run_at_the_same_time_with_jobs(store: Store, ctx: Path) -> None:
    both = threading.Barrier(2, timeout=20)  # broken (the test fails) unless both steps run at once

    def step(spec: RunSpec) -> int:
        if "together" in marker(spec):
            both.wait()
        Path(spec.rootfs, marker(spec).split()[-1].strip("/")).touch()
        return 0

    text = ("FROM scratch AS a\nRUN together touch /a\nFROM scratch AS b\nRUN together touch /b\n"
            "FROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n")
    img, ev = engine_build(store, ctx, text, FakeSandbox(step), jobs=2)
    assert {"a", "b"} <= set(image_tree(store, img))
    assert sorted(e.message.split(" STEP")[0] for e in ev if e.kind == "step" and "FROM" in e.message) == \
        ["[1/3]", "[2/3]", "[3/3]"]


def test_jobs_1_runs_stages_in_order_and_skips_stages_nobody_needs(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    text = ("FROM scratch AS unused\nRUN touch /unused\nFROM scratch AS base\nRUN touch /base\n"
            "FROM base\nRUN touch /final\n")
    img, _ = engine_build(store, ctx, text, sandbox, jobs=1)
    assert [marker(s) for s in sandbox.runs] == ["touch /base", "touch /final"]
    assert {"base", "final"} <= set(image_tree(store, img)) and "unused" not in image_tree(store, img)
    sandbox.runs.clear()
    target, _ = engine_build(store, ctx, text, sandbox, target="unused")
    assert "unused" in image_tree(store, target) and [marker(s) for s in sandbox.runs] == ["touch /unused"]


def test_a_failing_stage_stops_the_others(store: Store, ctx: Path) -> None:
    text = "FROM scratch AS a\nRUN exit 2\nFROM scratch AS b\nRUN touch /b\nFROM scratch\nCOPY --from=a / /\n"
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, text, jobs=2)
    assert e.value.where == "Containerfile:2"
    assert store.images() == []


def test_from_a_stored_image_and_pull_never(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nRUN echo base > /base\nENV B=1\n", output={"tags": ["base"]})
    img, _ = engine_build(store, ctx, "FROM base\nRUN cat /base > /copy\n", pull="never")
    assert image_tree(store, img)["copy"][-1] == b"base\n"
    assert "B=1" in img.config.config.env
    with pytest.raises(ImageNotFound) as e:
        engine_build(store, ctx, "FROM scratch\nLABEL a=b\nFROM nosuch-image\n", pull="never")
    assert e.value.where == "Containerfile:3" and "--pull=never" in str(e.value)


def test_bud_from_replaces_the_first_from(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nRUN touch /from-base\n", output={"tags": ["other"]})
    img, _ = engine_build(store, ctx, "FROM scratch\nRUN touch /mine\n", from_image="other")
    assert {"from-base", "mine"} <= set(image_tree(store, img))


def test_from_a_build_context_directory(store: Store, ctx: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "e.txt").write_text("e")
    text = "FROM extra\nRUN cat /e.txt > /seen\n"
    img, _ = engine_build(store, ctx, text, build_contexts={"extra": str(extra)})
    assert image_tree(store, img)["seen"][-1] == b"e"
    _, ev = engine_build(store, ctx, text, build_contexts={"extra": str(extra)})
    assert ev.hits == 1
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, text, build_contexts={"extra": str(tmp_path / "absent")})
    assert "not a directory" in str(e.value)
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, text, build_contexts={"extra": "s3://bucket/x"})
    assert "not a context pybuild knows" in str(e.value)


def test_copy_from_a_container_image_context(store: Store, ctx: Path) -> None:
    engine_build(store, ctx, "FROM scratch\nRUN echo i > /i\n", output={"tags": ["src-image"]})
    img, _ = engine_build(store, ctx, "FROM scratch\nCOPY --from=named /i /i\n",
                          build_contexts={"named": "container-image://src-image"})
    assert image_tree(store, img)["i"][-1] == b"i\n"


def test_onbuild_triggers_run_after_from_once(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    engine_build(store, ctx, "FROM scratch\nONBUILD RUN touch /triggered\nONBUILD LABEL by=onbuild\n",
                 output={"tags": ["parent"], "format": "docker"})
    child, _ = engine_build(store, ctx, "FROM parent\nRUN touch /child\n", sandbox,
                            output={"tags": ["child"], "format": "docker"})
    assert [marker(s) for s in sandbox.runs] == ["touch /triggered", "touch /child"]
    assert {"triggered", "child"} <= set(image_tree(store, child))
    assert child.config.config.labels == {"by": "onbuild"} and child.config.config.on_build == []
    grandchild, _ = engine_build(store, ctx, "FROM child\nRUN touch /gc\n", sandbox)
    assert marker(sandbox.runs[-1]) == "touch /gc"  # not inherited further
    _, ev = engine_build(store, ctx, "FROM parent\nRUN touch /child\n", sandbox, output={"format": "docker"})
    assert ev.hits == 3  # the triggers hit the cache as steps of their own


def test_metadata_instructions_make_the_config(store: Store, ctx: Path) -> None:
    text = ("FROM scratch\nENV A=1 B=2\nLABEL k=v\nEXPOSE 80 53/udp\nVOLUME /data\nUSER app\nWORKDIR /srv\n"
            "STOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD probe\nSHELL [\"/bin/bash\", \"-c\"]\n"
            "CMD run me\nENTRYPOINT [\"/e\"]\nMAINTAINER me@example\nONBUILD LABEL x=y\n")
    img, ev = engine_build(store, ctx, text, output={"format": "docker"})
    cfg = user_config(img)
    assert [e for e in cfg["Env"] if not e.startswith("PATH=")] == ["A=1", "B=2"]
    assert cfg["Labels"] == {"k": "v"} and cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}} and (cfg["User"], cfg["WorkingDir"]) == ("app", "/srv")
    assert cfg["StopSignal"] == "SIGINT" and cfg["Shell"] == ["/bin/bash", "-c"]
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "probe"] and cfg["Healthcheck"]["Retries"] == 2
    # a CMD of the same stage is kept by a later ENTRYPOINT, and runs under SHELL
    assert cfg["Entrypoint"] == ["/e"] and cfg["Cmd"] == ["/bin/bash", "-c", "run me"]
    assert img.config.author == "me@example" and cfg["OnBuild"] == ["LABEL x=y"]
    oci, ev = engine_build(store, ctx, text)
    assert oci.config.config.healthcheck is None and oci.config.config.on_build == []
    assert sum("not supported for OCI image format" in e.message for e in ev if e.kind == WARNING) == 3


def test_a_volume_of_an_empty_string_is_refused_with_its_line(store: Store, ctx: Path) -> None:
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, 'FROM scratch\nVOLUME [""]\n')
    assert e.value.where == "Containerfile:2"


def test_final_image_options(store: Store, ctx: Path, tmp_path: Path) -> None:
    text = "FROM scratch\nENV DROP=1 KEEP=1\nRUN touch /a\nRUN touch /b\n"
    iid = tmp_path / "iid"
    out_dir = tmp_path / "out"
    img, ev = engine_build(store, ctx, text, output={
        "tags": ["final:1"], "labels": {"l": "1"}, "unsetenv": ["DROP"], "env": {"NEW": "n"},
        "iidfile": str(iid), "outputs": [f"type=local,dest={out_dir}"], "annotations": {"a": "b"}})
    assert store.image("final:1").id == img.id and iid.read_text() == "sha256:" + img.id
    env = img.config.config.env
    assert "KEEP=1" in env and "NEW=n" in env and not any(e.startswith("DROP=") for e in env)
    assert img.config.config.labels == {"l": "1"}
    assert (out_dir / "a").exists() and (out_dir / "b").exists()
    assert store.image_meta(img.id).annotations == {"a": "b"}
    assert any(e.message == "Successfully tagged localhost/final:1" for e in ev)
    squashed, _ = engine_build(store, ctx, text, output={"squash": True})
    assert len(squashed.layers) == 1 and {"a", "b"} <= set(image_tree(store, squashed))
    bare, _ = engine_build(store, ctx, text, output={"omit_history": True})
    assert bare.config.history == []


def test_timestamp_gives_the_same_image_on_another_store(store: Store, ctx: Path, tmp_path: Path) -> None:
    text = "FROM scratch\nCOPY f /f\nRUN touch /r\n"
    one, _ = engine_build(store, ctx, text, output={"timestamp": 1000})
    two, _ = engine_build(vfs_store(tmp_path / "other"), ctx, text, output={"timestamp": 1000})
    assert one.id == two.id
    assert one.config.created == "1970-01-01T00:16:40Z"


def test_a_missing_containerfile_and_an_unknown_instruction(store: Store, ctx: Path) -> None:
    from pybuild.builder.executor import build as run_build
    from pybuild.builder.options import BuildOptions

    with pytest.raises(PybuildError) as e:
        run_build(store, BuildOptions(context=str(ctx)), sandbox=FakeSandbox())
    assert "no Containerfile or Dockerfile" in str(e.value)
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL from=file\n")
    img = run_build(store, BuildOptions(context=str(ctx)), sandbox=FakeSandbox())
    assert img.config.config.labels == {"from": "file"}
    with pytest.raises(PybuildError) as e:
        run_build(store, BuildOptions(context=str(ctx), containerfile="nope"), sandbox=FakeSandbox())
    assert "no Containerfile at nope" in str(e.value)
