"""Named build contexts (`--build-context NAME=VALUE`) as buildah spells them: a directory,
container-image:// (the local store), oci-layout://PATH:TAG, docker-image://; used by FROM,
COPY --from and RUN --mount from=."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_busybox(tmp_path_factory.mktemp("contexts"))[0]


def test_every_kind_of_named_context(root: Path, tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "etc").mkdir(parents=True)
    (files / "etc" / "from-dir").write_text("dir\n")
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:bb")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM files AS fromdir\n"
        "FROM layoutbase\n"
        "COPY --from=fromdir /etc/from-dir /from-dir-stage\n"
        "COPY --from=files etc/from-dir /from-dir-copy\n"
        "COPY --from=store /bin/busybox /busybox-from-store\n"
        "RUN --mount=type=bind,from=files,source=etc,target=/mnt cat /mnt/from-dir > /from-mount\n")
    out = tmp_path / "out"
    pyb(root, "bud", "-q", "-t", "ctx", "--build-context", f"files={files}",
        "--build-context", f"layoutbase=oci-layout://{layout}:bb",
        "--build-context", "store=container-image://busybox", "-o", f"type=local,dest={out}", str(ctx))
    assert (out / "from-dir-stage").read_text() == "dir\n"
    assert (out / "from-dir-copy").read_text() == "dir\n"
    assert (out / "from-mount").read_text() == "dir\n"
    assert (out / "busybox-from-store").stat().st_size > 100_000
    assert (out / "bin" / "sh").exists()  # the oci-layout base is busybox


def test_unsupported_and_bad_contexts_are_clear_errors(root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY --from=other x /x\n")
    # (git and http(s) URLs are contexts now: tests/integration/test_git_sources.py)
    proc = pyb(root, "bud", "--build-context", "other=s3://bucket/x.tar", str(ctx), check=False)
    assert proc.returncode != 0 and "not a context pybuild knows" in proc.stderr and "Traceback" not in proc.stderr
    proc = pyb(root, "bud", "--build-context", f"other={tmp_path / 'missing'}", str(ctx), check=False)
    assert proc.returncode != 0 and "not a directory" in proc.stderr
