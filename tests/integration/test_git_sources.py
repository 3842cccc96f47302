"""ADD of git repositories and git build contexts, against a real `git daemon` and git's
smart HTTP (`git http-backend`) on 127.0.0.1: checked out at the ref, .git dropped unless
kept, mtimes the commit's, the cache keyed by the commit the ref names now."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.git_fixtures import Repo, git, git_daemon, git_http, make_repo

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Repo, str, str]]:
    base = tmp_path_factory.mktemp("git")
    repo = make_repo(base)
    with git_daemon(base) as daemon, git_http(base) as http:
        yield repo, daemon, http


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox(tmp_path_factory.mktemp("git-store"))[0]


def _hits(out: str) -> int:
    return len(re.findall(r"^--> Using cache ", out, re.M))


def test_add_git_at_a_tag_a_branch_and_a_subdir(root: Path, served: tuple[Repo, str, str], tmp_path: Path) -> None:
    repo, daemon, http = served
    main = git("rev-parse", "main", cwd=repo.work)
    (tmp_path / "Containerfile").write_text(
        f"FROM busybox\nADD {daemon}/repo.git#v1 /v1\nADD {http}/repo.git#main:dir /sub/\n"
        f"ADD --keep-git-dir {daemon}/repo.git /kept\n")
    out = tmp_path / "out"
    started = time.time()
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", str(tmp_path))
    assert (out / "v1" / "hello.txt").read_text() == "one\n"  # the tag's commit, not main's
    assert not (out / "v1" / ".git").exists()
    assert (out / "v1" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "v1" / "hello.txt").stat().st_mtime >= int(started)  # checkout time, as BuildKit
    assert sorted(os.listdir(out / "sub")) == ["sub.txt"]  # only the subdirectory, over http
    assert (out / "kept" / "hello.txt").read_text() == "two\n"  # no ref: the remote's HEAD
    assert git("rev-parse", "HEAD", cwd=out / "kept") == main  # .git kept, at that commit
    assert git("remote", "get-url", "origin", cwd=out / "kept") == f"{daemon}/repo.git"
    assert not (out / "kept" / ".git" / "FETCH_HEAD").exists()
    # a full commit id as the ref, as BuildKit takes it
    v1 = git("rev-parse", "v1^{commit}", cwd=repo.work)
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD {daemon}/repo.git#{v1} /bycommit\n")
    out3 = tmp_path / "out3"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out3}", str(tmp_path))
    assert (out3 / "bycommit" / "hello.txt").read_text() == "one\n"
    (tmp_path / "Containerfile").write_text(
        f"FROM busybox\nADD {daemon}/repo.git#v1 /v1\nADD {http}/repo.git#main:dir /sub/\n"
        f"ADD --keep-git-dir {daemon}/repo.git /kept\n")
    # with a SOURCE_DATE_EPOCH, every mtime is the commit's (BuildKit's git.mtime=commit)
    out2 = tmp_path / "out2"
    pyb(root, "bud", "-q", "--source-date-epoch", "1800000000", "-o", f"type=local,dest={out2}", str(tmp_path))
    assert (out2 / "v1" / "hello.txt").stat().st_mtime == 1_600_000_000
    assert (out2 / "v1" / "dir").stat().st_mtime == 1_600_000_000


def test_add_git_checks_out_submodules(root: Path, served: tuple[Repo, str, str], tmp_path: Path) -> None:
    repo, daemon, _http = served
    base = repo.bare.parent
    sub = make_repo(base, "sub.git")
    parent = make_repo(base, "parent.git")
    git("-c", "protocol.allow=always", "submodule", "add", "-q", f"{daemon}/sub.git", "vendor/sub", cwd=parent.work)
    parent.commit({}, "add a submodule", 1_730_000_000)
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD {daemon}/parent.git#main /p\n")
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", str(tmp_path))
    assert (out / "p" / "vendor" / "sub" / "hello.txt").read_text() == "two\n"
    assert not (out / "p" / "vendor" / "sub" / ".git").exists()  # no .git file left in the submodule
    assert sub.bare.is_dir()


def test_git_cache_key_is_the_commit_the_ref_names(root: Path, served: tuple[Repo, str, str],
                                                    tmp_path: Path) -> None:
    base = tmp_path / "own"
    base.mkdir()
    repo = make_repo(base, "moving.git")
    with git_daemon(base) as daemon:
        (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD {daemon}/moving.git#main /m\nRUN cat /m/hello.txt\n")
        first = pyb(root, "bud", str(tmp_path))
        second = pyb(root, "bud", str(tmp_path))
        assert _hits(first.stdout) == 0 and _hits(second.stdout) == 2  # same commit: both steps cached
        repo.commit({"hello.txt": "three\n"}, "third", 1_750_000_000)
        third = pyb(root, "bud", str(tmp_path))
        assert _hits(third.stdout) == 0 and "three" in third.stdout  # the branch moved: a miss
    assert "moving.git" not in (root / "cache").as_posix()


def test_a_git_url_is_the_build_context(root: Path, served: tuple[Repo, str, str], tmp_path: Path) -> None:
    repo, daemon, http = served
    repo.commit({"ctx/Containerfile": "FROM busybox\nCOPY . /ctx/\n", "ctx/data.txt": "from git\n"},
                "context", 1_710_000_000)
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", f"{daemon}/repo.git#main:ctx")
    assert (out / "ctx" / "data.txt").read_text() == "from git\n"
    out2 = tmp_path / "out2"
    pyb(root, "bud", "-q", "--no-cache", "--source-date-epoch", "1800000000", "-o", f"type=local,dest={out2}",
        f"{http}/repo.git#main:ctx")  # (COPY's key has no mtimes: a cached layer would keep the old ones)
    assert (out2 / "ctx" / "data.txt").read_text() == "from git\n"
    assert (out2 / "ctx" / "data.txt").stat().st_mtime == 1_710_000_000  # the commit's, as BuildKit then


def test_git_mistakes_are_one_line(root: Path, served: tuple[Repo, str, str], tmp_path: Path) -> None:
    _repo, daemon, _http = served
    cases = {
        f"ADD {daemon}/repo.git#nosuchref /x": "no branch, tag or ref named 'nosuchref'",
        f"ADD {daemon}/absent.git /x": "git ls-remote",
        f"ADD {daemon}/repo.git#main:nodir /x": "'nodir' is not a directory",
        f"ADD {daemon}/repo.git#main:../up /x": "climbs out of the repository",
        "ADD --keep-git-dir a.txt /x": "only for git sources",
        f"ADD --checksum=sha256:{'0' * 64} {daemon}/repo.git /x": "--checksum of a git source is not supported",
    }
    (tmp_path / "a.txt").write_text("a\n")
    before = sorted(os.listdir(root / "overlay" if (root / "overlay").exists() else root))
    for line, message in cases.items():
        (tmp_path / "Containerfile").write_text(f"FROM busybox\n{line}\n")
        proc = pyb(root, "bud", str(tmp_path), check=False)
        assert proc.returncode != 0, line
        err = proc.stderr.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Containerfile:2" in err[0], (line, proc.stderr)
    assert sorted(os.listdir(root / "overlay" if (root / "overlay").exists() else root)) == before
    proc = pyb(root, "bud", f"file://{tmp_path}/x.git", check=False)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1


def test_the_library_builds_a_git_context(root: Path, served: tuple[Repo, str, str]) -> None:
    import pybuild

    repo, daemon, _http = served
    repo.commit({"lib/Containerfile": "FROM busybox\nCOPY note.txt /note.txt\nLABEL from=git\n",
                 "lib/note.txt": "library\n"}, "library context", 1_720_000_000)
    image = pybuild.build(f"{daemon}/repo.git#main:lib", store=root, tags=["fromgit"])
    assert pybuild.Store(root).image("fromgit").id == image.id
    assert not os.listdir(root / "tmp")  # the checkout is gone after the build


def test_named_contexts_from_git_and_a_tarball_url(root: Path, served: tuple[Repo, str, str], tmp_path: Path) -> None:
    from tests.http_fixtures import serve_directory, tar_bytes

    _repo, daemon, _http = served
    www = tmp_path / "www"
    www.mkdir()
    (www / "named.tar.gz").write_bytes(tar_bytes({"etc/from-tar": "tar\n"}))
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text(
        "FROM busybox\nCOPY --from=src hello.txt /from-git\nCOPY --from=tarball etc/from-tar /from-tar\n"
        "RUN --mount=type=bind,from=src,source=dir,target=/mnt cat /mnt/sub.txt > /from-mount\n"
        "ADD --chown=1000:1000 --chmod=0600 " + f"{daemon}/repo.git#v1:dir /owned\n"
        f"ADD --exclude=*.sh --exclude=dir {daemon}/repo.git#v1 /excluded\n")
    out = tmp_path / "out"
    with serve_directory(www) as url:
        pyb(root, "bud", "-q", "--build-context", f"src={daemon}/repo.git#v1",
            "--build-context", f"tarball={url}/named.tar.gz", "-o", f"type=local,dest={out}", str(tmp_path / "ctx"))
    assert (out / "from-git").read_text() == "one\n"
    assert (out / "from-tar").read_text() == "tar\n"
    assert (out / "from-mount").read_text() == "sub\n"
    st = (out / "owned" / "sub.txt").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o600)
    assert sorted(os.listdir(out / "excluded")) == ["hello.txt"]  # --exclude applies to a git tree
