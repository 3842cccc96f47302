"""Contexts that are not a directory, as buildah and `docker build` take them: an http(s) URL
of a tarball (unpacked safely) or of a Containerfile, `-` (a tar or a Containerfile on stdin),
`-f URL`; and buildah's Containerfile.in through cpp with --cpp-flag. Served by a local HTTP
server of the test's own on 127.0.0.1."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import PYBUILD, build_busybox, pyb
from tests.http_fixtures import serve_directory, tar_bytes

pytestmark = [pytest.mark.root, pytest.mark.integration]


CONTEXT = {"Containerfile": "FROM busybox\nCOPY data.txt /data.txt\nRUN cat /data.txt\n", "data.txt": "from tar\n"}


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    docroot = tmp_path_factory.mktemp("www")
    (docroot / "ctx.tar.gz").write_bytes(tar_bytes(CONTEXT))
    (docroot / "evil.tar").write_bytes(tar_bytes({"Containerfile": "FROM busybox\nCOPY escaped /escaped\n",
                                                  "../../escaped": "x\n"}, "w"))
    (docroot / "Containerfile").write_text("FROM busybox\nRUN echo only a containerfile > /c.txt\n")
    (docroot / "Local.containerfile").write_text("FROM busybox\nCOPY local.txt /local.txt\n")
    with serve_directory(docroot) as url:
        yield url, docroot


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox(tmp_path_factory.mktemp("ctx-sources"))[0]


def _bud_stdin(root: Path, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*PYBUILD, "--root", str(root), "bud", *args, "-"], input=data, capture_output=True,
                          timeout=300)


def test_a_tarball_url_is_the_context(root: Path, www: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = www
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", f"{url}/ctx.tar.gz")
    assert (out / "data.txt").read_text() == "from tar\n"


def test_a_containerfile_url_is_the_context_and_f_url_reads_one(root: Path, www: tuple[str, Path],
                                                                 tmp_path: Path) -> None:
    url, _ = www
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", f"{url}/Containerfile")
    assert (out / "c.txt").read_text() == "only a containerfile\n"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "local.txt").write_text("local file\n")
    out2 = tmp_path / "out2"
    pyb(root, "bud", "-q", "-f", f"{url}/Local.containerfile", "-o", f"type=local,dest={out2}", str(ctx))
    assert (out2 / "local.txt").read_text() == "local file\n"  # -f URL with a local context


def test_a_tarball_cannot_climb_out_of_the_context(root: Path, www: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = www
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-o", f"type=local,dest={out}", f"{url}/evil.tar")
    assert (out / "escaped").read_text() == "x\n"  # "../../escaped" clamped at the context's root
    assert not (root / "escaped").exists() and not (root.parent / "escaped").exists()
    assert os.listdir(root / "tmp") == []  # the unpacked context is gone after the build


def test_stdin_holds_a_tar_or_a_containerfile(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _bud_stdin(root, tar_bytes(CONTEXT, "w"), "-q", "-o", f"type=local,dest={out}")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out / "data.txt").read_text() == "from tar\n"
    out1 = tmp_path / "out1"  # -f names a file inside the tar, as `docker build -f F - < ctx.tar`
    proc = _bud_stdin(root, tar_bytes({"sub/Other": "FROM busybox\nCOPY data.txt /other.txt\n", "data.txt": "d\n"}),
                      "-q", "-f", "sub/Other", "-o", f"type=local,dest={out1}")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out1 / "other.txt").read_text() == "d\n"
    out2 = tmp_path / "out2"
    proc = _bud_stdin(root, b"FROM busybox\nRUN echo from stdin > /s.txt\n", "-q", "-o", f"type=local,dest={out2}")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (out2 / "s.txt").read_text() == "from stdin\n"


def test_context_mistakes_are_one_line(root: Path, www: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = www
    images = pyb(root, "images", "--json").stdout
    for args, message in (([f"{url}/missing.tar"], "HTTP 404"),
                          (["-f", "-", "-"], "cannot be read from stdin too"),
                          (["-f", f"{url}/missing", str(tmp_path)], "HTTP 404"),
                          (["ftp://127.0.0.1/x"], "is not a directory")):
        proc = pyb(root, "bud", *args, check=False, input="")
        err = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(err) == 1 and err[0].startswith("Error: ") and message in err[0], \
            (args, proc.stderr)
    assert pyb(root, "images", "--json").stdout == images
    proc = _bud_stdin(root, b"\x00\x01 neither", "-q")
    assert proc.returncode != 0 and b"neither a tar archive nor a text Containerfile" in proc.stderr


def test_containerfile_in_runs_through_cpp(root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "common.inc").write_text("RUN echo included > /inc.txt\n")
    (ctx / "Containerfile.in").write_text(
        'FROM busybox\n#include "common.inc"\n#ifdef EXTRA\nRUN echo GREETING > /greeting.txt\n#endif\n')
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-f", "Containerfile.in", "--cpp-flag=-DEXTRA", "--cpp-flag=-DGREETING=hello",
        "-o", f"type=local,dest={out}", str(ctx))
    assert (out / "inc.txt").read_text() == "included\n"
    assert (out / "greeting.txt").read_text() == "hello\n"
    out2 = tmp_path / "out2"
    pyb(root, "bud", "-q", "-f", str(ctx / "Containerfile.in"), "-o", f"type=local,dest={out2}", str(ctx))
    assert not (out2 / "greeting.txt").exists()  # without -DEXTRA the block is left out
    (ctx / "Containerfile.in").write_text('FROM busybox\n#include "absent.inc"\n')
    proc = pyb(root, "bud", "-f", "Containerfile.in", str(ctx), check=False)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "absent.inc" in err[0], proc.stderr
    assert os.path.isdir(ctx)


def test_the_library_reads_a_context_stream(root: Path) -> None:
    import pybuild

    image = pybuild.build("-", context_stream=io.BytesIO(tar_bytes(CONTEXT)), store=root, tags=["fromstream"])
    assert pybuild.Store(root).image("fromstream").id == image.id
