"""ADD of http(s) URLs: fetched (not unpacked), mode 0600 as Docker makes them, --checksum
verified, errors naming the line; served by a local HTTP server of the test's own."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox
from tests.http_fixtures import serve_directory

pytestmark = [pytest.mark.root, pytest.mark.integration]

_DOCROOTS: dict[str, Path] = {}


def _docroot(server: str) -> Path:
    return _DOCROOTS[server]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    docroot = tmp_path_factory.mktemp("www")
    (docroot / "hello.txt").write_text("hello over http\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"inside\n"
        ti = tarfile.TarInfo("inner.txt")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    (docroot / "bundle.tar").write_bytes(buf.getvalue())
    with serve_directory(docroot) as url:
        _DOCROOTS[url] = docroot
        yield url


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox(tmp_path_factory.mktemp("add-url"))[0]


def _bud(root: Path, ctx: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-q", *args, str(ctx)],
                          capture_output=True, text=True)


def test_add_url(root: Path, server: str, tmp_path: Path) -> None:
    good = "sha256:" + hashlib.sha256(b"hello over http\n").hexdigest()
    (tmp_path / "Containerfile").write_text(
        f"FROM busybox\nADD {server}/hello.txt /dl/\nADD --checksum={good} {server}/hello.txt /ok.txt\n"
        f"ADD {server}/bundle.tar /tars/\n")
    out = tmp_path / "out"
    proc = _bud(root, tmp_path, "-o", f"type=local,dest={out}")
    assert proc.returncode == 0, proc.stderr
    assert (out / "dl" / "hello.txt").read_text() == "hello over http\n"
    assert (out / "dl" / "hello.txt").stat().st_mode & 0o777 == 0o600
    assert (out / "ok.txt").read_text() == "hello over http\n"
    assert (out / "tars" / "bundle.tar").is_file()  # a remote archive is not unpacked
    assert not (out / "tars" / "inner.txt").exists()


def test_add_url_errors_name_the_line(root: Path, server: str, tmp_path: Path) -> None:
    bad = "sha256:" + "0" * 64
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD --checksum={bad} {server}/hello.txt /x\n")
    proc = _bud(root, tmp_path)
    assert proc.returncode != 0 and "Containerfile:2" in proc.stderr and "checksum mismatch" in proc.stderr
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nRUN true\nADD {server}/missing.txt /x\n")
    proc = _bud(root, tmp_path)
    assert proc.returncode != 0 and "Containerfile:3" in proc.stderr and "HTTP 404" in proc.stderr
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nCOPY {server}/hello.txt /x\n")
    proc = _bud(root, tmp_path)
    assert proc.returncode != 0 and "use ADD" in proc.stderr


def test_add_url_cache_follows_the_content(root: Path, server: str, tmp_path: Path) -> None:
    """A rebuild reuses the ADD step while the URL serves the same bytes, and redoes it when
    they change (the key is the content, not the URL)."""
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD {server}/changing.txt /c.txt\nRUN cat /c.txt\n")
    docroot = _docroot(server)
    (docroot / "changing.txt").write_text("one\n")
    first = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", str(tmp_path)],
                           capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", str(tmp_path)],
                            capture_output=True, text=True)
    assert first.returncode == 0 and second.stdout.count("Using cache") == 2
    (docroot / "changing.txt").write_text("two\n")
    third = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), "bud", str(tmp_path)],
                           capture_output=True, text=True)
    assert third.stdout.count("Using cache") == 0 and "two" in third.stdout
