"""BuildKit's shell lexer: modifiers, quotes, escapes, word splitting."""

from __future__ import annotations

import pytest

from pybuild.builder.containerfile.expand import ExpansionError, Lexer

ENV = {"v": "/usr/local/bin/tool.tar.gz", "e": "", "sp": "a  b"}


@pytest.mark.parametrize(("word", "expected"), [
    ("$v", "/usr/local/bin/tool.tar.gz"),
    ("${u:-dflt}", "dflt"), ("${e:-dflt}", "dflt"), ("${e-dflt}", ""), ("${u-dflt}", "dflt"),
    ("${v:+set}", "set"), ("${e:+set}", ""), ("${e+set}", "set"), ("${u+set}", ""),
    ("${e?}", ""), ("${v:?}", "/usr/local/bin/tool.tar.gz"),
    ("${v#*/}", "usr/local/bin/tool.tar.gz"), ("${v##*/}", "tool.tar.gz"),
    ("${v%.*}", "/usr/local/bin/tool.tar"), ("${v%%.*}", "/usr/local/bin/tool"),
    ("${v/local/LOCAL}", "/usr/LOCAL/bin/tool.tar.gz"), ("${v//o/0}", "/usr/l0cal/bin/t00l.tar.gz"),
    ("${v/#\\/usr/X}", "/usr/local/bin/tool.tar.gz"),
    ("'$v'", "$v"), ('"$v"', "/usr/local/bin/tool.tar.gz"), ("\\$v", "$v"),
    ('"${sp}"', "a  b"),
])
def test_modifiers(word: str, expected: str) -> None:
    assert Lexer().process_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), [
    ("${u:?must be set}", "u: must be set"),
    ("${u?}", "u: is not allowed to be unset"),
    ("${e:?}", "e: is not allowed to be empty"),
    ("${v", "missing '}'"),
    ("${v:=x}", "unsupported modifier (:=)"),
    ("${v:#x}", "unsupported modifier (:#)"),
])
def test_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Lexer().process_word(word, ENV)


def test_backtick_escape() -> None:
    lex = Lexer("`")
    assert lex.process_word("a`$v\\b", ENV) == "a$v\\b"


def test_words_split_after_expansion_keeping_quoted_spaces() -> None:
    assert Lexer().process_words('x $sp "$sp" y', ENV) == ["x", "a", "b", "a  b", "y"]


def test_matches_are_reported() -> None:
    _, matched, unmatched = Lexer().process_word_with_matches("$v ${nope}", ENV)
    assert matched == {"v"} and unmatched == {"nope"}
