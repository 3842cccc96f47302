"""Ignore files with Docker's patternmatcher semantics and buildah's lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.containerfile.ignore import IgnoreMatcher, go_clean, load_ignore, read_patterns
from pybuild.errors import ContainerfileError


def m(text: str) -> IgnoreMatcher:
    return IgnoreMatcher(read_patterns(text))


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    ("*.md", "README.md", True),
    ("*.md", "docs/README.md", False),  # * does not cross /
    ("**/*.md", "docs/a/README.md", True),
    ("**", "anything/at/all", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c]x", "bx", True),
    ("node_modules", "node_modules/pkg/index.js", True),  # parent dir match
    ("/build/", "build/out.o", True),  # leading / and trailing / cleaned
    ("./src/../tmp", "tmp/x", True),
    ("*\n!keep.md", "keep.md", False),
    ("*\n!keep.md", "other", True),
    ("!keep.md\n*", "keep.md", True),  # last match wins
    ("docs\n!docs/keep", "docs/keep", False),
    ("docs\n!docs/keep", "docs/drop", True),
    ("# comment\n\n  spaced.txt  ", "spaced.txt", True),
    ("a.b", "axb", False),  # . is literal
])
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert m(patterns).excluded(path) is excluded


def test_illegal_exclusion() -> None:
    with pytest.raises(ContainerfileError, match="illegal exclusion"):
        m("!")


def test_go_clean() -> None:
    assert [go_clean(p) for p in ("", "a//b/", "/../x", "a/../../b", "./")] == [".", "a/b", "/x", "../b", "."]


def test_may_have_exceptions_under() -> None:
    assert not m("build").may_have_exceptions_under("build")
    matcher = m("build\n!build/keep")
    assert matcher.may_have_exceptions_under("build")
    assert not matcher.may_have_exceptions_under("other")
    assert m("x\n!**/keep").may_have_exceptions_under("x")


def test_lookup_order(tmp_path: Path) -> None:
    cf = tmp_path / "Containerfile"
    cf.write_text("FROM a\n")
    assert load_ignore(tmp_path, cf) is None
    (tmp_path / ".dockerignore").write_text("d\n")
    assert load_ignore(tmp_path, cf).excluded("d")  # type: ignore[union-attr]
    (tmp_path / ".containerignore").write_text("c\n")
    got = load_ignore(tmp_path, cf)
    assert got is not None and got.excluded("c") and not got.excluded("d")
    (tmp_path / "Containerfile.dockerignore").write_text("cfd\n")
    got = load_ignore(tmp_path, cf)
    assert got is not None and got.excluded("cfd") and not got.excluded("c")
    (tmp_path / "Containerfile.containerignore").write_text("cfc\n")
    got = load_ignore(tmp_path, cf)
    assert got is not None and got.excluded("cfc")
    explicit = tmp_path / "my.ignore"
    explicit.write_text("mine\n")
    got = load_ignore(tmp_path, cf, explicit)
    assert got is not None and got.excluded("mine") and not got.excluded("cfc")


def test_an_ignore_file_linking_out_of_the_context_counts_as_absent(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("*\n")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / ".dockerignore").symlink_to(outside)
    assert load_ignore(ctx) is None
    (ctx / ".dockerignore").unlink()
    (ctx / "patterns").write_text("*.md\n")
    (ctx / ".dockerignore").symlink_to("patterns")  # inside the context: followed
    matcher = load_ignore(ctx)
    assert matcher is not None and matcher.excluded("a.md")
