"""Random and mutated Containerfiles: a graph or a clean PybuildError, never a crash or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybuild.builder.containerfile import parse
from pybuild.builder.containerfile.evaluate import StageEvaluator
from pybuild.builder.containerfile.expand import Lexer
from pybuild.builder.graph import build_graph
from pybuild.errors import PybuildError

SEEDS = [
    "FROM alpine AS a\nARG X=1\nENV Y=$X\nRUN echo $Y\n",
    "# escape=`\nFROM a\nRUN x `\n y\n",
    "FROM a\nCOPY <<EOF /x\nbody ${V:-d}\nEOF\n",
    'FROM a AS b\nRUN --mount=type=cache,target=/c ["sh", "-c", "x"]\nFROM b\nCOPY --from=b / /\n',
    "ARG B=a\nFROM $B\nHEALTHCHECK --interval=5s CMD true\nONBUILD RUN x\nEXPOSE 80/udp\n",
]
TOKENS = ["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE",
          "\\\n", "\n", "<<EOF", "EOF\n", "--from=", "--mount=type=bind,target=/x", "[", "]", '"', "'",
          "${", "}", "$X", ":-", "=", " ", "\t", "#", "# escape=`\n", "`", "AS", "scratch", "\r\n", "\ufeff"]

fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    try:
        graph = build_graph(parse(text, "F"), build_args={"X": "1"}, platform="linux/amd64",
                            build_platform="linux/amd64")
        for stage in graph.stages:
            ev = StageEvaluator(stage, graph)
            for instr in stage.instructions:
                ev.apply(ev.expand(instr))
            ev.run_env()
    except PybuildError as e:
        assert str(e)


@fuzz
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@fuzz
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup(tokens: list[str]) -> None:
    check(" ".join(tokens))


@fuzz
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 200), st.sampled_from(TOKENS + ["", "x"])),
                                          max_size=6))
def test_mutated_seeds(seed: str, edits: list[tuple[int, str]]) -> None:
    text = seed
    for pos, tok in edits:
        p = pos % (len(text) + 1)
        text = text[:p] + tok + text[p + 1:]
    check(text)


@fuzz
@given(st.text(max_size=80))
def test_lexer_never_crashes(word: str) -> None:
    for lex in (Lexer("\\"), Lexer("`")):
        try:
            lex.process_words(word, {"X": "1", "E": ""})
        except PybuildError:
            pass


def test_conformance_files_mutated_do_not_crash(shared_dir: Path) -> None:
    root = shared_dir / "conformance" / "buildkit" / "testfiles"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    for f in sorted(root.glob("*/Dockerfile")):
        text = f.read_text(encoding="utf-8")
        for cut in range(0, len(text), max(1, len(text) // 15)):
            check(text[:cut])
            check(text[cut:])
