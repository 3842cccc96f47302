"""BuildKit's shell-lexer tables (envVarTest, wordsTest), read from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.containerfile.expand import ExpansionError, Lexer

BUILDKIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "buildkit"
pytestmark = pytest.mark.skipif(not BUILDKIT.is_dir(), reason=f"{BUILDKIT} is absent (no shared/ beside the clone)")

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_var_cases() -> list[tuple[int, str, str]]:
    path = BUILDKIT / "envVarTest"
    if not path.is_file():
        return []
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = line.split("|")
        if platform.strip() in ("A", "U"):
            cases.append((n, source.strip(), expected.strip()))
    return cases


@pytest.mark.parametrize(("lineno", "source", "expected"), _env_var_cases())
def test_env_var_table(lineno: int, source: str, expected: str) -> None:
    lex = Lexer("\\")
    if expected == "error":
        with pytest.raises(ExpansionError):
            lex.process_word(source, ENV)
    else:
        assert lex.process_word(source, ENV) == expected


def test_env_var_table_is_complete() -> None:
    assert len(_env_var_cases()) > 200


def _words_cases() -> list[tuple[int, str, list[str], dict[str, str]]]:
    path = BUILDKIT / "wordsTest"
    if not path.is_file():
        return []
    env: dict[str, str] = {}
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            k, _, v = line[3:].lstrip(" ").partition("=")
            env[k] = v
            continue
        test, expected = line.split("|")
        cases.append((n, test.strip(), expected.lstrip(" ").split(","), dict(env)))
    return cases


@pytest.mark.parametrize(("lineno", "source", "expected", "env"), _words_cases())
def test_words_table(lineno: int, source: str, expected: list[str], env: dict[str, str]) -> None:
    try:
        result = Lexer("\\").process_words(source, env)
    except ExpansionError:
        result = ["error"]
    assert result == expected


def test_words_table_is_complete() -> None:
    assert len(_words_cases()) == 24
