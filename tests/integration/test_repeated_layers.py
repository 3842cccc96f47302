"""Images whose layer list repeats a diff_id (two RUN steps that change nothing; a file added,
removed and added again) build, run and commit under both storage drivers, built or pulled,
and the repeat keeps its meaning: what a layer between the two copies deleted is back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]

UNCHANGED_RUNS = """\
FROM busybox
RUN true
RUN true
RUN echo hi > /x
"""

READDED = """\
FROM busybox
COPY d /d
RUN rm -r /d && echo between > /between
COPY d /d
RUN cat /d/f /between && ls /d/sub && echo after > /after
"""


def _context(tmp: Path, name: str, text: str) -> Path:
    ctx = tmp / name
    (ctx / "d" / "sub").mkdir(parents=True)
    (ctx / "d" / "f").write_text("data\n")
    (ctx / "d" / "sub" / "g").write_text("g\n")
    (ctx / "Containerfile").write_text(text)
    return ctx


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_build_run_and_commit_over_repeated_layers(tmp_path: Path, driver: str) -> None:
    root, _ = build_busybox(tmp_path)
    drv = ["--storage-driver", driver]
    pyb(root, *drv, "bud", "-q", "-t", "unchanged", str(_context(tmp_path, "c1", UNCHANGED_RUNS)))
    # --timestamp: the two COPY layers are then the same whatever second each ran in
    out = pyb(root, *drv, "bud", "--timestamp", "0", "-t", "readded", str(_context(tmp_path, "c2", READDED)))
    assert "data\nbetween\n" in out.stdout and "g\n" in out.stdout
    for image in ("unchanged", "readded"):
        layers = _layers(root, image)
        assert len(set(layers)) < len(layers), f"{image} should repeat a diff_id: {layers}"
    # the buildah verbs over the same image: from, run, commit, and a run of the commit
    cid = pyb(root, *drv, "from", "readded").stdout.strip().splitlines()[-1]
    run = pyb(root, *drv, "run", cid, "--", "sh", "-c", "cat /d/f /after && echo more > /more")
    assert run.stdout == "data\nafter\n"
    pyb(root, *drv, "commit", cid, "committed")
    cid2 = pyb(root, *drv, "from", "committed").stdout.strip().splitlines()[-1]
    assert pyb(root, *drv, "run", cid2, "--", "cat", "/more", "/d/sub/g").stdout == "more\ng\n"


def test_pulled_image_with_repeated_layers_runs(tmp_path: Path) -> None:
    """A pulled image's layers are unpacked on first use: the repeat must work there too."""
    root, _ = build_busybox(tmp_path)
    pyb(root, "bud", "-q", "--timestamp", "0", "-t", "readded", str(_context(tmp_path, "c2", READDED)))
    layout = tmp_path / "layout"
    pyb(root, "push", "readded", f"oci:{layout}:readded")
    fresh = tmp_path / "fresh"
    image_id = pyb(fresh, "pull", "-q", f"oci:{layout}:readded").stdout.strip().splitlines()[-1]
    layers = _layers(fresh, image_id)
    assert len(set(layers)) < len(layers), layers
    cid = pyb(fresh, "from", image_id).stdout.strip().splitlines()[-1]
    assert pyb(fresh, "run", cid, "--", "cat", "/d/f", "/between").stdout == "data\nbetween\n"


def _layers(root: Path, image: str) -> list[str]:
    import json

    info = json.loads(pyb(root, "inspect", image).stdout)
    layers: list[str] = info["OCIv1"]["rootfs"]["diff_ids"]
    return layers
