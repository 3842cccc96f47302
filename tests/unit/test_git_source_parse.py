"""BuildKit's git source spellings read into remote, ref and subdirectory (no network)."""

from __future__ import annotations

import pytest

from pybuild.builder import git_source
from pybuild.builder.copy_step import is_url
from pybuild.errors import UnsupportedError, UserError


@pytest.mark.parametrize(("src", "remote", "ref", "subdir", "ssh"), [
    ("https://h/r.git", "https://h/r.git", None, "", False),
    ("https://h/r.git#v1.2", "https://h/r.git", "v1.2", "", False),
    ("git://127.0.0.1:9418/r.git#main:docs/api/", "git://127.0.0.1:9418/r.git", "main", "docs/api", False),
    ("git@host:team/r.git#:sub", "git@host:team/r.git", None, "sub", True),
    ("ssh://git@127.0.0.1:2222/r.git#dev", "ssh://git@127.0.0.1:2222/r.git", "dev", "", True),
    ("github.com/o/r#main", "https://github.com/o/r", "main", "", False),
])
def test_git_spellings(src: str, remote: str, ref: str | None, subdir: str, ssh: bool) -> None:
    g = git_source.parse(src)
    assert (g.remote, g.ref, g.subdir, g.is_ssh) == (remote, ref, subdir, ssh)
    assert git_source.is_git_url(src)


def test_git_urls_are_not_downloads_and_plain_urls_are_not_git() -> None:
    assert not is_url("https://h/r.git#main") and is_url("https://h/file.tar.gz")
    assert not git_source.is_git_url("https://h/file.tar.gz")


def test_refused_spellings() -> None:
    with pytest.raises(UserError, match="only git://"):
        git_source.parse("file:///srv/r.git")
    with pytest.raises(UserError, match="climbs out"):
        git_source.parse("https://h/r.git#main:../etc")
    with pytest.raises(UnsupportedError, match="query form"):
        git_source.parse("https://h/r.git?ref=main")
