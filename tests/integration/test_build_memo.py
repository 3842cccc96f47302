"""The build memo (issue 19): a fully cached `pybuild bud` run again is answered without the
engine -- same output, same image ID, --iidfile written -- and any change to what the build
rests on (a context file, the Containerfile, a tag, the image, a variable) runs the engine.

Whether the engine ran is read from ``python -X importtime``: the memo's answer imports no
click (the command line) at all. Each build is compared with what pybuild prints with the
memo off (PYBUILD_BUILD_MEMO=0)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http_fixtures import serve_directory
from tests.integration.bud_helpers import Store, make_store

HELLO = """\
FROM busybox
ARG GREETING=hello
ENV GREETING=${GREETING}
WORKDIR /app
COPY hello.txt /app/hello.txt
RUN echo "$GREETING" > /app/run.txt
CMD ["cat", "/app/run.txt"]
"""


@dataclass
class Run:
    out: str
    err: str
    engine: bool  # the command line (click) was imported: the memo did not answer


def bud(store: Store, ctx: Path, *flags: str, env: dict[str, str] | None = None, check: bool = True) -> Run:
    """`pybuild bud FLAGS CTX` as a user runs it (the console script's entry), timed imports on."""
    # (pytest's PYTEST_CURRENT_TEST names the phase: a fixture's build and the test's would differ)
    base = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pybuild", "--root", str(store.root), "bud",
                        *flags, str(ctx)], capture_output=True, text=True, env={**base, **(env or {})},
                       timeout=300, cwd=ctx.parent)
    imports = [line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    err = "".join(line + "\n" for line in r.stderr.splitlines() if not line.startswith("import time:"))
    if check:
        assert r.returncode == 0, f"bud failed ({r.returncode}):\n{r.stdout}\n{err}"
    return Run(r.stdout, err, "click" in imports)


def settle() -> None:
    """A memo is recorded only for inputs changed over a second before the build started."""
    time.sleep(1.1)


def _hello(tmp_path: Path) -> tuple[Store, Path]:
    """A store with busybox, and the HELLO context, settled."""
    store = make_store(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(HELLO)
    (ctx / "hello.txt").write_text("hello\n")
    settle()
    return store, ctx


@pytest.fixture
def primed(tmp_path: Path) -> tuple[Store, Path, Run]:
    """A store and context whose cached build has been recorded: the next identical run is answered."""
    store, ctx = _hello(tmp_path)
    assert bud(store, ctx, "-t", "hello").engine  # cold: runs RUN, records nothing
    cached = bud(store, ctx, "-t", "hello")  # fully cached: the engine answers and records
    assert cached.engine and "Using cache" in cached.out
    return store, ctx, cached


@pytest.mark.root
def test_a_repeated_cached_build_is_answered_without_the_engine(primed: tuple[Store, Path, Run]) -> None:
    store, ctx, cached = primed
    again = bud(store, ctx, "-t", "hello")
    assert not again.engine
    assert (again.out, again.err) == (cached.out, cached.err)  # the same lines, the same image ID
    off = bud(store, ctx, "-t", "hello", env={"PYBUILD_BUILD_MEMO": "0"})
    assert off.engine and off.out == again.out


@pytest.mark.root
def test_the_answer_writes_the_iidfile(tmp_path: Path) -> None:
    store, ctx = _hello(tmp_path)
    iid = ctx / "image.id"  # inside the context: the build's own output is not an input
    bud(store, ctx, "-q", "--iidfile", str(iid), "-t", "hello")
    assert bud(store, ctx, "-q", "--iidfile", str(iid), "-t", "hello").engine  # records
    image_id = iid.read_text()
    iid.write_text("stale")
    answered = bud(store, ctx, "-q", "--iidfile", str(iid), "-t", "hello")
    assert not answered.engine
    assert iid.read_text() == image_id and answered.out.strip() == image_id.removeprefix("sha256:")


def _edit_content(store: Store, ctx: Path) -> None:
    (ctx / "hello.txt").write_text("howdy\n")  # the same size: only the content and times differ


def _touch(store: Store, ctx: Path) -> None:
    os.utime(ctx / "hello.txt")


def _chmod(store: Store, ctx: Path) -> None:
    os.chmod(ctx / "hello.txt", 0o600)


def _add_file(store: Store, ctx: Path) -> None:
    (ctx / "new.txt").write_text("new\n")


def _edit_containerfile(store: Store, ctx: Path) -> None:
    (ctx / "Containerfile").write_text(HELLO.replace('CMD ["cat"', 'CMD ["/bin/cat"'))


def _move_tag(store: Store, ctx: Path) -> None:
    store.run("tag", "busybox", "hello")


def _remove_image(store: Store, ctx: Path) -> None:
    store.run("rmi", "hello")


def _retag_base(store: Store, ctx: Path) -> None:
    other = ctx.parent / "other"
    other.mkdir()
    (other / "Containerfile").write_text("FROM busybox\nLABEL other=1\n")
    store.bud(other, "-t", "busybox")  # FROM busybox now names another image


CHANGES: dict[str, Callable[[Store, Path], None]] = {
    "content": _edit_content, "touch": _touch, "chmod": _chmod, "new-file": _add_file,
    "containerfile": _edit_containerfile, "tag-moved": _move_tag, "image-removed": _remove_image,
    "base-retagged": _retag_base,
}


@pytest.mark.root
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_runs_the_engine_and_builds_what_it_would(primed: tuple[Store, Path, Run], change: str) -> None:
    store, ctx, cached = primed
    assert not bud(store, ctx, "-t", "hello").engine
    CHANGES[change](store, ctx)
    after = bud(store, ctx, "-t", "hello")
    assert after.engine
    off = bud(store, ctx, "-t", "hello", env={"PYBUILD_BUILD_MEMO": "0"})
    assert after.out.splitlines()[-1] == off.out.splitlines()[-1]  # the image the engine makes
    assert store.inspect("hello")["FromImageID"] == after.out.splitlines()[-1]


@pytest.mark.root
def test_a_build_arg_from_the_environment_is_part_of_the_command(primed: tuple[Store, Path, Run]) -> None:
    store, ctx, _ = primed
    env = {"GREETING": "hi"}
    for _ in range(2):
        bud(store, ctx, "--build-arg", "GREETING", "-t", "hello", env=env)
    assert not bud(store, ctx, "--build-arg", "GREETING", "-t", "hello", env=env).engine
    changed = bud(store, ctx, "--build-arg", "GREETING", "-t", "hello", env={"GREETING": "yo"})
    assert changed.engine and "Using cache" not in changed.out.split("RUN")[1].splitlines()[1]


@pytest.mark.root
@pytest.mark.parametrize("flags", [["--no-cache"], ["--progress", "json"], ["--pull", "always"]],
                         ids=["no-cache", "json", "pull-always"])
def test_builds_the_memo_does_not_answer(primed: tuple[Store, Path, Run], flags: list[str]) -> None:
    store, ctx, _ = primed
    runs = [bud(store, ctx, *flags, "-t", "hello", check=flags != ["--pull", "always"]) for _ in range(3)]
    assert all(r.engine for r in runs)


@pytest.mark.root
def test_an_add_from_a_url_asks_the_url_every_time(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "data.txt").write_text("one\n")
    with serve_directory(www) as url:
        _add_url_builds(tmp_path, www, url)


def _add_url_builds(tmp_path: Path, www: Path, url: str) -> None:
    store = make_store(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM busybox\nADD {url}/data.txt /data.txt\n")
    settle()
    runs = [bud(store, ctx, "-t", "fetched") for _ in range(3)]
    assert all(r.engine for r in runs)
    (www / "data.txt").write_text("two\n")
    changed = bud(store, ctx, "-t", "fetched")
    assert changed.engine and changed.out.splitlines()[-1] != runs[-1].out.splitlines()[-1]
