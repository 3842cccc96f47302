"""Fuzzed instruction arguments through the executor (not only the parser): every build
either succeeds or stops with one PybuildError naming ``Containerfile:LINE``, never another
exception. In-process over a vfs store, FROM scratch with a small context: no root, no RUN
(tests/integration/test_run_fuzz.py drives RUN's options). Example counts are bounded."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pybuild
from pybuild.errors import PybuildError
from tests.build_helpers import vfs_store

KEYWORDS = ["EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENV", "LABEL", "ARG", "USER", "WORKDIR", "VOLUME",
            "CMD", "ENTRYPOINT", "SHELL", "ONBUILD", "MAINTAINER", "COPY", "ADD"]
WORDS = ["80", "80/tcp", "/udp", "0", "65536", "1-2", "9-3", "a:b:c", "[::1]:80:80", "SIGTERM", "SIGFOO", "9",
         "-1", "+3", "RTMIN+3", "CMD", "NONE", "true", "--interval=1s", "--interval=x", "--retries=3",
         "--retries=-2", "--timeout=1ms", "--start-period=1e3s", "--chown=1:2", "--chown=nobody", "--chmod=755",
         "--chmod=u+q", "--chmod=7777", "--from=x", "--link", "--parents", "--exclude=*.txt", "--checksum=sha256:00",
         "--unpack=false", "--keep-git-dir", "f", "dir", "dir/", "*.txt", "missing*", "/", ".", "..", "../x",
         "/a/b", "a b", "\"q\"", "'s'", "[\"a\",", "\"b\"]", "[]", "$X", "${X:-d}", "${X:?gone}", "${Y}", "=",
         "K=V", "K=", "=V", "\\", "`", "#", "\x00", "\u00e9", "http://127.0.0.1:9/x", "<<EOF", "nobody", "1000:1000",
         "RUN", "COPY", "FROM", "ONBUILD"]
WHERE = re.compile(r"Containerfile:\d+\Z")

fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
lines = st.tuples(st.sampled_from(KEYWORDS), st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=5))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("fuzz")
    ctx = work / "ctx"
    (ctx / "dir").mkdir(parents=True)
    (ctx / "f").write_text("f")
    (ctx / "dir" / "a.txt").write_text("a")
    return {"store": vfs_store(work / "store"), "context": ctx}


def check(world: dict[str, Any], text: str, **options: Any) -> None:
    """Build ``text``: success, or a PybuildError of one line that names Containerfile:LINE."""
    try:
        pybuild.build(world["context"], store=world["store"], containerfile_text=text,
                      build_args={"X": "1"}, **options)
    except PybuildError as e:
        assert e.where and WHERE.match(e.where), f"{type(e).__name__} without file:line: {e}"
        assert "\n" not in str(e).strip()


@fuzz
@given(body=st.lists(lines, min_size=1, max_size=5))
def test_instruction_arguments_through_the_executor(world: dict[str, Any],
                                                    body: list[tuple[str, list[str]]]) -> None:
    check(world, "FROM scratch\nARG X\n" + "".join(f"{kw} {' '.join(args)}\n" for kw, args in body))


@fuzz
@given(keyword=st.sampled_from(KEYWORDS), args=st.text(max_size=40))
def test_one_instruction_with_any_text(world: dict[str, Any], keyword: str, args: str) -> None:
    check(world, f"FROM scratch\n{keyword} {args}\nCOPY f /after\n", layers=False)


def test_a_nul_in_a_path_is_a_file_line_error(world: dict[str, Any]) -> None:
    for line in ("COPY \x00 /a", "ADD f /\x00", "WORKDIR /\x00", "VOLUME /v\x00"):
        check(world, f"FROM scratch\n{line}\n")
