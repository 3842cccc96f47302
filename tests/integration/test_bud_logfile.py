"""bud --logfile, -D/--disable-compression and --identity-label: what each means for pybuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, images, pyb

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_logfile_takes_the_build_output_and_stdout_keeps_the_id(tmp_path: Path) -> None:
    root, _ = build_busybox(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo marker-from-run\n")
    log = tmp_path / "build.log"
    log.write_text("old contents\n")
    proc = pyb(root, "bud", "--progress", "plain", "--logfile", str(log), "-t", "logged", str(ctx))
    text = log.read_text()
    assert "STEP 2/2: RUN echo marker-from-run" in text and "marker-from-run\n" in text
    assert "old contents" not in text  # truncated, as buildah's
    fresh = tmp_path / "fresh.log"
    pyb(root, "bud", "-q", "--logfile", str(fresh), str(ctx))
    assert oct(fresh.stat().st_mode & 0o777) == "0o600"  # made private, as buildah makes it
    assert proc.stdout.strip() == next(i["id"] for i in images(root) if "localhost/logged:latest" in i["names"])
    assert "marker" not in proc.stderr


def test_logfile_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM scratch\n")
    proc = pyb(tmp_path / "root", "bud", "--logfile", str(tmp_path / "no" / "such" / "dir.log"), str(ctx),
               check=False)
    assert proc.returncode == 125
    assert proc.stderr.strip().splitlines() == [
        f"Error: --logfile {tmp_path / 'no' / 'such' / 'dir.log'}: No such file or directory"]


def test_disable_compression_and_identity_label_say_what_pybuild_does(tmp_path: Path) -> None:
    root, _ = build_busybox(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo x > /x\n")
    # the defaults pybuild has, spelled out, are accepted and change nothing
    pyb(root, "bud", "-q", "-D", "--identity-label=false", "-t", "plain", str(ctx))
    labels = json.loads(pyb(root, "inspect", "plain").stdout)["OCIv1"]["config"].get("Labels") or {}
    assert "io.buildah.version" not in labels
    for flag, reason in (("--disable-compression=false", "pybuild's store keeps layers uncompressed"),
                         ("--identity-label", "pybuild adds no io.buildah.version label")):
        proc = pyb(root, "bud", flag, str(ctx), check=False)
        assert proc.returncode == 125 and reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
