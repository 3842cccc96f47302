"""The build memo's pure parts (issue 19): which command lines it may answer, what makes two
runs the same command, and what in a context tree counts as a change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild.builder import build_memo


@pytest.mark.parametrize(("argv", "root"), [
    (["bud", "-t", "x", "."], "DEFAULT"),
    (["build", "."], "DEFAULT"),
    (["--root", "/r", "bud", "."], "/r"),
    (["--root=/r", "--storage-driver", "overlay", "bud", "."], "/r"),
    (["--log-level", "error", "--root", "/r", "bud"], "/r"),
    (["--log-level", "debug", "bud", "."], None),  # debug prints more than a memo holds
    (["images"], None),
    (["--root", "/r", "push", "x"], None),
    (["--root"], None),
    (["--version"], None),
    (["-h", "bud"], None),
])
def test_only_bud_command_lines_with_known_global_flags(argv: list[str], root: str | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBUILD_ROOT", "DEFAULT")
    assert build_memo.store_of(argv) == root


def test_the_command_key_is_argv_cwd_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    key = build_memo.command_key(["bud", "."])
    assert build_memo.command_key(["bud", "."]) == key
    assert build_memo.command_key(["bud", "-q", "."]) != key
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")  # an implicit build arg, for one
    assert build_memo.command_key(["bud", "."]) != key
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("OLDPWD", "/elsewhere")  # the shell's own: pybuild never reads it
    assert build_memo.command_key(["bud", "."]) == key
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert build_memo.command_key(["bud", "."]) != key


def _tree(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("aaaa")
    (ctx / "Containerfile").write_text("FROM scratch\n")
    os.symlink("src/a.txt", ctx / "link")
    return ctx


CHANGES = {
    "content": lambda c: (c / "src" / "a.txt").write_text("bbbb"),
    "mode": lambda c: os.chmod(c / "src" / "a.txt", 0o600),
    "dir-mode": lambda c: os.chmod(c / "src", 0o700),
    "added": lambda c: (c / "src" / "b.txt").write_text(""),
    "removed": lambda c: os.unlink(c / "src" / "a.txt"),
    "renamed": lambda c: os.rename(c / "src" / "a.txt", c / "src" / "c.txt"),
    "link-target": lambda c: (os.unlink(c / "link"), os.symlink("Containerfile", c / "link")),
    "touched": lambda c: os.utime(c / "Containerfile", ns=(1, 1)),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_in_the_context_changes_its_digest(tmp_path: Path, change: str) -> None:
    ctx = _tree(tmp_path)
    before, _ = build_memo.tree_digest(str(ctx))
    assert build_memo.tree_digest(str(ctx))[0] == before
    CHANGES[change](ctx)
    assert build_memo.tree_digest(str(ctx))[0] != before


def test_skipped_outputs_do_not_count(tmp_path: Path) -> None:
    ctx = _tree(tmp_path)
    out = ctx / "image.id"
    out.write_text("sha256:1")
    before, _ = build_memo.tree_digest(str(ctx), [str(out)])
    out.write_text("sha256:2")
    assert build_memo.tree_digest(str(ctx), [str(out)])[0] == before


def test_a_missing_memo_or_store_answers_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert not build_memo.answer(["--root", str(tmp_path / "nowhere"), "bud", "."])
    monkeypatch.setenv("PYBUILD_BUILD_MEMO", "0")
    assert build_memo.begin(["--root", str(tmp_path), "bud", "."]) is None


def test_a_store_keeps_the_newest_memos_only(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"{i}.json").write_text("{}")
        os.utime(tmp_path / f"{i}.json", ns=(i * 10**9, i * 10**9))
    build_memo._trim(str(tmp_path), keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2.json", "3.json", "4.json"]


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": 1}', '{"format": 1, "key": "K", "tty": [false, false]}',
                                  '{"format": 1, "key": "K", "tty": [false, false], "files": [], "trees": [],'
                                  ' "iidfile": null, "image": "x", "transcript": [[1, 2]]}'])
def test_a_torn_or_foreign_memo_answers_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--root", str(tmp_path), "bud", "."]
    path = Path(build_memo.memo_path(str(tmp_path), build_memo.command_key(argv)))
    path.parent.mkdir()
    path.write_text(text.replace('"K"', f'"{build_memo.command_key(argv)}"'))
    assert not build_memo.answer(argv)
