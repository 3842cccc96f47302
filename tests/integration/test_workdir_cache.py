"""WORKDIR and the step cache: a directory made by WORKDIR belongs to the USER then (as
BuildKit's mkdir -p does), and a rebuild gives the same image whether a step ran or hit
(what WORKDIR leaves pending, and a CMD that a later ENTRYPOINT keeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.build_helpers import build, image_tree, vfs_store

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600::/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1600:\n"


def _context(tmp: Path, **files: str) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    for name, body in {"passwd": PASSWD, "group": GROUP, **files}.items():
        (ctx / name).write_text(body)
    return ctx


@pytest.mark.root
def test_workdir_directories_belong_to_the_user(tmp_path: Path) -> None:
    store = vfs_store(tmp_path / "store")
    ctx = _context(tmp_path, f="x")
    text = ("FROM scratch\nCOPY passwd /etc/passwd\nCOPY group /etc/group\nCOPY f /opt/keep/\n"
            "USER app\nWORKDIR /opt/keep/new/deeper\nUSER 1234\nWORKDIR /n\nUSER root\nCOPY f /done\n")
    image, _ = build(store, ctx, text)
    files = image_tree(store, image)
    assert files["opt"][2:4] == (0, 0)  # existing directories keep their owner
    assert files["opt/keep"][2:4] == (0, 0)
    assert files["opt/keep/new"][2:4] == (1500, 1600)  # parents too (mkdir -p as the user)
    assert files["opt/keep/new/deeper"][2:4] == (1500, 1600)
    assert files["n"][2:4] == (1234, 1234)  # a bare uid is uid:uid, as BuildKit's chown
    assert files["done"][2:4] == (0, 0)


def test_rebuild_after_a_run_workdir_hits_every_step(tmp_path: Path) -> None:
    store = vfs_store(tmp_path / "store")
    ctx = _context(tmp_path, f="x")
    text = "FROM scratch\nWORKDIR /app\nCOPY f .\nENV A=1\nCOPY f /b/\n"
    first, _ = build(store, ctx, text)
    second, events = build(store, ctx, text)
    assert events.steps == 4 and events.hits == 4
    assert second.id == first.id


def test_explain_cache_names_nothing_after_a_workdir(tmp_path: Path) -> None:
    store = vfs_store(tmp_path / "store")
    ctx = _context(tmp_path, f="x")
    text = "FROM scratch\nWORKDIR /app\nCOPY f .\n"
    build(store, ctx, text, no_cache=True)  # records every step, WORKDIR included
    _, events = build(store, ctx, text)
    assert events.hits == 2, [e.message for e in events]


@pytest.mark.root
def test_workdir_hit_then_a_chown_copy_leaves_the_workdir_root_s(tmp_path: Path) -> None:
    store = vfs_store(tmp_path / "store")
    ctx = _context(tmp_path, f="one")
    text = ("FROM scratch\nCOPY passwd /etc/passwd\nCOPY group /etc/group\nWORKDIR /wd\n"
            "COPY --chown=app f /wd/sub/\n")
    build(store, ctx, text)
    (ctx / "f").write_text("two")  # WORKDIR hits, the COPY runs
    hit, events = build(store, ctx, text)
    assert events.hits == 3
    cold, _ = build(store, ctx, text, no_cache=True)
    assert image_tree(store, hit) == image_tree(store, cold)
    assert image_tree(store, hit)["wd"][2:4] == (0, 0)
    assert image_tree(store, hit)["wd/sub"][2:4] == (1500, 1600)


def test_explain_cache_after_a_workdir_names_the_input_that_changed(tmp_path: Path) -> None:
    from tests.cli_helpers import pyb

    ctx = _context(tmp_path, f="one")
    (ctx / "Containerfile").write_text("FROM scratch\nWORKDIR /app\nCOPY f .\n")
    root = tmp_path / "store"
    pyb(root, "--storage-driver", "vfs", "bud", str(ctx))
    again = pyb(root, "--storage-driver", "vfs", "bud", "--explain-cache", str(ctx)).stdout
    assert "Cache miss" not in again, again  # was: "the cached result's layers are no longer in the store"
    (ctx / "f").write_text("two")
    out = pyb(root, "--storage-driver", "vfs", "bud", "--explain-cache", str(ctx)).stdout
    miss = [line for line in out.splitlines() if "Cache miss" in line]
    assert len(miss) == 1 and "sources" in miss[0], out
    assert "pending_workdirs" not in miss[0] and "no longer in the store" not in miss[0]


def test_a_cmd_from_the_cache_is_kept_by_a_later_entrypoint(tmp_path: Path) -> None:
    store = vfs_store(tmp_path / "store")
    ctx = _context(tmp_path)
    build(store, ctx, 'FROM scratch\nCMD ["kept"]\nENV A=1\n')  # caches the CMD step only
    image, events = build(store, ctx, 'FROM scratch\nCMD ["kept"]\nENTRYPOINT ["/run"]\n')
    assert events.hits == 1
    assert image.config.config.cmd == ["kept"]
