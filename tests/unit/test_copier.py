"""COPY sources: selection (paths, Go wildcards, escapes), the content key, the file-hash
cache, and --chmod — the parts of COPY that need no root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybuild.builder.copier import ContentHashCache, SourceRoot, hash_sources, parse_chmod, select_sources
from pybuild.errors import ContextError


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    (root / ".hidden.txt").write_text("h\n")
    (root / "dir" / "sub" / "deep.txt").write_text("deep\n")
    os.symlink("/etc/passwd", root / "outside-link")
    os.symlink("dir/sub", root / "inside-link")
    return root


def test_wildcards_match_like_go_including_dotfiles(ctx: Path) -> None:
    got = sorted(s.rel for s in select_sources(SourceRoot(str(ctx)), ["*.txt"]))
    assert got == [".hidden.txt", "a.txt", "b.txt"]
    assert [s.rel for s in select_sources(SourceRoot(str(ctx)), ["[^a].txt"])] == ["b.txt"]
    assert [s.rel for s in select_sources(SourceRoot(str(ctx)), ["dir/*/deep.txt"])] == ["dir/sub/deep.txt"]


def test_sources_outside_the_context_are_errors(ctx: Path) -> None:
    with pytest.raises(ContextError, match="outside the build context"):
        select_sources(SourceRoot(str(ctx)), ["../x"], where="Containerfile:3")
    with pytest.raises(ContextError, match="no such file"):
        select_sources(SourceRoot(str(ctx)), ["missing"])
    with pytest.raises(ContextError, match="nothing matches"):
        select_sources(SourceRoot(str(ctx)), ["*.nope"])


def test_a_symlinked_source_resolves_inside_the_context(ctx: Path) -> None:
    # /etc/passwd means the context's own etc/passwd: it does not exist there
    with pytest.raises(ContextError):
        select_sources(SourceRoot(str(ctx)), ["outside-link"])
    [sel] = select_sources(SourceRoot(str(ctx)), ["inside-link"])
    assert sel.is_dir and sel.host == str(ctx / "dir" / "sub")


def test_the_content_key_ignores_mtimes_and_sees_bytes_and_modes(ctx: Path, tmp_path: Path) -> None:
    cache = ContentHashCache(str(tmp_path / "h.sqlite"))
    root = SourceRoot(str(ctx))

    def key() -> str:
        return hash_sources(select_sources(root, ["dir", "a.txt"]), root, cache)

    first = key()
    os.utime(ctx / "a.txt", (1, 1))
    assert key() == first
    (ctx / "a.txt").write_text("A\n")
    changed = key()
    assert changed != first
    os.chmod(ctx / "dir" / "sub" / "deep.txt", 0o600)
    assert key() != changed


def test_the_hash_cache_remembers_settled_files_only(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"one")
    db = str(tmp_path / "h.sqlite")
    cache = ContentHashCache(db)
    cache.RACY_NS = 0  # count f as settled (its ctime is now; no sleeping in tests)
    st = f.stat()
    first = cache.file_digest(str(f), st)
    cache.close()
    # remembered: a second cache answers from the database for the same stat, without reading
    fresh = tmp_path / "fresh"
    fresh.write_bytes(b"two")
    cache = ContentHashCache(db)
    f.write_bytes(b"xyz")  # same size; the stat it is asked about is the old one
    assert cache.file_digest(str(f), st) == first
    # a file changed just now is hashed but not remembered (a write in the same tick could
    # keep its size and times)
    cache.file_digest(str(fresh), fresh.stat())
    cache.close()
    import sqlite3

    keys = [row[0] for row in sqlite3.connect(db).execute("SELECT k FROM h")]
    assert not any(k.startswith(f"{fresh.stat().st_dev}:{fresh.stat().st_ino}:") for k in keys)


def test_an_unchanged_context_is_answered_in_one_walk_without_a_file_lookup(ctx: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "h.sqlite")
    root = SourceRoot(str(ctx))
    for p in ctx.rglob("*"):
        os.utime(p, (1, 1), follow_symlinks=False)  # settled, so remembered
    cache = ContentHashCache(db)
    cache.RACY_NS = 0  # ctimes are now: count them settled (no sleeping in tests)
    first = hash_sources(select_sources(root, ["dir", "a.txt"]), root, cache)
    cache.close()

    def no_file_lookups(files: object) -> list[str]:
        raise AssertionError("an unchanged selection looked its files up one by one")

    cache = ContentHashCache(db)
    cache.RACY_NS = 0
    with monkeypatch.context() as m:
        m.setattr(cache, "file_digests", no_file_lookups)
        assert hash_sources(select_sources(root, ["dir", "a.txt"]), root, cache) == first
    # new bytes with the old size and mtime put back: the ctime still tells, the key changes
    (ctx / "a.txt").write_text("A\n")
    os.utime(ctx / "a.txt", (1, 1))
    assert hash_sources(select_sources(root, ["dir", "a.txt"]), root, cache) != first
    cache.close()


def test_a_wal_hash_cache_of_an_older_pybuild_is_switched_and_a_lookup_leaves_no_journal(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "h.sqlite"
    old = sqlite3.connect(db)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE h (k TEXT PRIMARY KEY, d TEXT)")
    old.commit()
    old.close()
    f = tmp_path / "f"
    f.write_bytes(b"x")
    for _ in range(2):
        cache = ContentHashCache(str(db))
        cache.file_digest(str(f), f.stat())
        cache.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "h.sqlite"]
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_chmod_octal_and_symbolic() -> None:
    octal = parse_chmod("0755")
    assert octal is not None and octal(0o644, False) == 0o755
    sym = parse_chmod("u+x,go-w")
    assert sym is not None and sym(0o666, False) == 0o744
    cap_x = parse_chmod("a+X")
    assert cap_x is not None and cap_x(0o644, False) == 0o644 and cap_x(0o644, True) == 0o755
    with pytest.raises(Exception, match="invalid --chmod"):
        parse_chmod("u+q")


def test_a_wildcard_matching_nothing_beside_other_sources_is_no_error(ctx: Path) -> None:
    got = [s.rel for s in select_sources(SourceRoot(str(ctx)), ["a.txt", "nomatch*", "b.*"])]
    assert got == ["a.txt", "b.txt"]
    with pytest.raises(ContextError, match="nomatch\\*: no source files were specified"):
        select_sources(SourceRoot(str(ctx)), ["nomatch*", "none?"])
    with pytest.raises(ContextError, match="missing: no such file"):  # a plain path must exist
        select_sources(SourceRoot(str(ctx)), ["a.txt", "missing"])


def test_a_destination_ending_in_slash_dot_names_a_directory() -> None:
    from pybuild.builder.copier import names_directory

    assert all(names_directory(d) for d in ("/app/", "/app/.", "rel/.", ".", "./"))
    assert not any(names_directory(d) for d in ("/app", "/app/..", "/app.", "rel"))


def test_a_copied_file_replaces_what_the_image_has_there_and_never_writes_through_a_link(
        tmp_path: Path) -> None:
    from pybuild.builder.copier import CopyOptions, copy_into_rootfs

    src = tmp_path / "ctx"
    (src / "tree").mkdir(parents=True)
    for name, body, mode in (("link.txt", "via link\n", 0o640), ("dir.txt", "over a dir\n", 0o755),
                             ("file.txt", "over a file\n", 0o600), ("new.txt", "new\n", 0o604)):
        (src / "tree" / name).write_text(body)
        os.chmod(src / "tree" / name, mode)
        os.utime(src / "tree" / name, ns=(1_000_000_000, 2_000_000_123))
    host_file = tmp_path / "host-secret"
    host_file.write_text("untouched\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "data" / "dir.txt" / "inner").mkdir(parents=True)
    os.symlink(str(host_file), rootfs / "data" / "link.txt")
    (rootfs / "data" / "file.txt").write_text("old contents, longer than the new ones\n")
    root = SourceRoot(str(src), "context")
    result = copy_into_rootfs(str(rootfs), select_sources(root, ["tree"]), "/data/", "/", CopyOptions())
    assert result.files == 4
    assert host_file.read_text() == "untouched\n"
    for name, body, mode in (("link.txt", "via link\n", 0o640), ("dir.txt", "over a dir\n", 0o755),
                             ("file.txt", "over a file\n", 0o600), ("new.txt", "new\n", 0o604)):
        p = rootfs / "data" / name
        st = os.lstat(p)
        assert (p.read_text(), oct(st.st_mode), st.st_mtime_ns) == (body, oct(0o100000 | mode), 2_000_000_123)
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (0, 0)
