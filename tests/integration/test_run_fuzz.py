"""Fuzzed RUN options through the executor and the sandbox: a build either succeeds or stops
with one PybuildError naming ``Containerfile:LINE`` (a failing command included), never
another exception. Bounded: a few dozen builds over one busybox store."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pybuild
from pybuild.builder.store import Store
from pybuild.errors import PybuildError
from tests.conftest import busybox_context

KEYS = ["type=bind", "type=cache", "type=tmpfs", "type=secret", "type=ssh", "type=nope", "target=/m", "target=rel",
        "target=/", "target=/proc/x", "target=../up", "target=", "dst=/d", "source=f", "source=dir", "source=/",
        "source=../x", "source=missing", "src=dir/a.txt", "from=first", "from=busybox", "from=nope", "from=0",
        "id=c1", "id=../../x", "sharing=locked", "sharing=private", "sharing=odd", "mode=0700", "mode=9",
        "uid=1000", "gid=x", "size=1k", "size=lots", "ro", "rw", "readonly=false", "rw=maybe", "required",
        "required=true", "env=TOKEN", "x=y", "novalue"]
FLAGS = ["--network=none", "--network=host", "--network=bogus", "--security=sandbox", "--security=insecure",
         "--device=/dev/null", "--bogus"]
COMMANDS = ["true", "false", "ls /m", "cat /m/a.txt", '["true"]', '["/nonexistent"]', '["sh", "-c", "exit 3"]',
            "echo $TOKEN"]
WHERE = re.compile(r"Containerfile:\d+\Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("runfuzz")
    store = Store(work / "store")
    pybuild.build(busybox_context(work), store=store, tags=["busybox"])
    ctx = work / "ctx"
    (ctx / "dir").mkdir(parents=True)
    (ctx / "f").write_text("f")
    (ctx / "dir" / "a.txt").write_text("a")
    return {"store": store, "context": ctx}


mount = st.lists(st.sampled_from(KEYS), min_size=1, max_size=4).map(",".join)
run_line = st.tuples(st.lists(mount.map(lambda m: f"--mount={m}"), max_size=2),
                     st.lists(st.sampled_from(FLAGS), max_size=1), st.sampled_from(COMMANDS))


@pytest.mark.root
@pytest.mark.integration
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=run_line)
@example(run=(["--mount=target=/proc/x"], [], "true"))  # the sandbox's error named the rootfs, not the line
def test_run_options_never_crash_the_build(world: dict[str, Any], run: tuple[list[str], list[str], str]) -> None:
    mounts, flags, command = run
    text = f"FROM busybox AS first\nFROM busybox\nWORKDIR /w\nRUN {' '.join([*mounts, *flags])} {command}\n"
    try:
        pybuild.build(world["context"], store=world["store"], containerfile_text=text, isolation="chroot",
                      no_cache=True)
    except PybuildError as e:
        assert e.where and WHERE.match(e.where), f"{type(e).__name__} without file:line: {e}\n{text}"
        assert "\n" not in str(e).strip()
