"""Fuzzed instruction arguments through the executor (not only the parser): every build
either succeeds or stops with one PybuildError naming ``Containerfile:LINE``, never another
exception. In-process over a vfs store, FROM scratch with a small context: no root, no RUN
(the sandbox has its own tests). Example counts are bounded for CI."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

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

fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
WORKDIR = Path(tempfile.mkdtemp(prefix="pybuild-fuzz-"))
STORE = vfs_store(WORKDIR / "store")
CONTEXT = WORKDIR / "ctx"
(CONTEXT / "dir").mkdir(parents=True)
(CONTEXT / "f").write_text("f")
(CONTEXT / "dir" / "a.txt").write_text("a")
WHERE = re.compile(r"Containerfile:\d+\Z")

lines = st.tuples(st.sampled_from(KEYWORDS), st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=5))


def check(text: str, **options: object) -> None:
    try:
        pybuild.build(CONTEXT, store=STORE, containerfile_text=text, build_args={"X": "1"}, **options)
    except PybuildError as e:
        assert e.where and WHERE.match(e.where), f"{type(e).__name__} without file:line: {e}"
        assert "\n" not in str(e).strip()


@fuzz
@given(st.lists(lines, min_size=1, max_size=5))
def test_instruction_arguments_through_the_executor(body: list[tuple[str, list[str]]]) -> None:
    text = "FROM scratch\nARG X\n" + "".join(f"{kw} {' '.join(args)}\n" for kw, args in body)
    check(text)


@fuzz
@given(st.sampled_from(KEYWORDS), st.text(max_size=40))
def test_one_instruction_with_any_text(keyword: str, args: str) -> None:
    check(f"FROM scratch\n{keyword} {args}\nCOPY f /after\n", layers=False)
