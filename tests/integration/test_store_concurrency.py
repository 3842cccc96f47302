"""Several pybuild processes on one store at once: builds, pulls, tags, removals and prunes
run side by side and the store stays consistent (every name points at an image, every
record's blobs are whole), with every build succeeding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pybuild.builder.fsck import check
from pybuild.builder.store import Store
from tests.cli_helpers import build_busybox, images, pyb
from tests.store_helpers import Loop, clean_failure, spawn

pytestmark = [pytest.mark.root, pytest.mark.integration]


def _contexts(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        ctx = tmp_path / f"ctx{i}"
        ctx.mkdir()
        (ctx / "f").write_text(f"file {i}\n")
        (ctx / "Containerfile").write_text(f"FROM busybox\nCOPY f /f\nRUN echo {i} > /n && sleep 0.3\n"
                                           "LABEL done=yes\n")
        out.append(ctx)
    return out


def test_builds_and_pulls_beside_tag_rmi_prune_loops(tmp_path: Path) -> None:
    """8 builds (in pairs with the same steps, so they race for the same cache keys and
    layers) and a pull, beside loops of tag/rmi and prune, for 3 rounds: every build and
    pull succeeds, nothing fails with more than one line, and the store checks clean."""
    root, _ = build_busybox(tmp_path)
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:bb")
    contexts = _contexts(tmp_path, 4)
    for rnd in range(3):
        loops = [Loop(root, ["tag", "busybox", "extra"], ["rmi", "extra"]),
                 Loop(root, ["rmi", "-f", "img0", "img3"], ["images"]),
                 Loop(root, ["prune"])]
        for loop in loops:
            loop.start()
        procs = [spawn(root, "bud", "-q", "-t", f"img{j}", str(contexts[j % 4])) for j in range(8)]
        procs.append(spawn(root, "pull", "-q", f"oci:{layout}:bb"))
        results = [(p.args, *p.communicate(timeout=600), p.returncode) for p in procs]
        for loop in loops:
            loop.stop()
        for args, _out, err, rc in results:
            assert rc == 0, f"round {rnd}: {' '.join(args[3:])} failed: {err}"
        for loop in loops:
            assert loop.runs > 0 and not loop.bad, loop.bad
        problems = check(Store(root))
        assert not problems, f"round {rnd}: " + "\n".join(problems)
    names = {n for img in images(root) for n in img["names"]}  # type: ignore[attr-defined]
    assert {f"localhost/img{j}:latest" for j in (1, 2, 5, 6)} <= names
    for j in (1, 2, 5, 6):
        pyb(root, "push", f"img{j}", f"oci:{tmp_path}/out:img{j}")
        pyb(root, "inspect", f"img{j}")
    assert check(Store(root), quiescent=True) == []


def test_concurrent_rmi_of_one_name_removes_only_that_name(tmp_path: Path) -> None:
    """Three `rmi` of one alias at once take the alias away, never the image (they looked
    it up outside the lock), and `rmi -f` racing them ends cleanly."""
    root, image_id = build_busybox(tmp_path)
    for attempt in range(3):
        pyb(root, "tag", "busybox", "alias")
        procs = [spawn(root, "rmi", "alias") for _ in range(3)] + [spawn(root, "rmi", "-f", "alias")]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert clean_failure(p.returncode, err) is None
        names = {n for img in images(root) for n in img["names"]}  # type: ignore[attr-defined]
        assert "localhost/busybox:latest" in names, f"attempt {attempt}: the image itself was removed"
        assert "localhost/alias:latest" not in names
    assert check(Store(root)) == []


def test_pull_of_an_image_whose_blobs_a_prune_removes(tmp_path: Path) -> None:
    """A pull that finds the config and layers already stored, while the image holding them
    is removed and pruned, records an image whose blobs are all there (or fails cleanly)."""
    root, _ = build_busybox(tmp_path)
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:bb")
    for _ in range(4):
        pyb(root, "pull", "-q", f"oci:{layout}:bb")
        pulls = [spawn(root, "pull", "-q", f"oci:{layout}:bb") for _ in range(2)]
        rm = Loop(root, ["rmi", "-a"], ["prune", "-a"])
        rm.start()
        for p in pulls:
            _out, err = p.communicate(timeout=300)
            assert clean_failure(p.returncode, err) is None
        rm.stop()
        assert not rm.bad, rm.bad
        assert check(Store(root)) == []
    shutil.rmtree(layout)
