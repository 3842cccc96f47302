"""A fully cached build does no durable write, no mount and no tag rewrite (issue 19).

The fixed cost of a CI pipeline's many cached builds: every step answered from the cache
must not mount the working container, fsync a file or rewrite images.json when the tag
already names the same image. Counted in-process (the library, as a user's code calls it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pybuild.builder.sandbox.overlay as overlay
from pybuild.builder.store import Store
from tests.build_helpers import build
from tests.integration.bud_helpers import context, make_store

HELLO = """\
FROM busybox
ENV APP_HOME=/app
WORKDIR /app
COPY hello.txt /app/hello.txt
RUN cat /app/hello.txt > /app/run.txt
LABEL org.example.case=hello
USER 1000
CMD ["cat", "/app/run.txt"]
"""


@pytest.mark.root
def test_fully_cached_build_mounts_nothing_fsyncs_nothing_keeps_images_json(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_store(tmp_path).root
    ctx = context(tmp_path, HELLO, {"hello.txt": "hello\n"})
    first, _ = build(Store(root), ctx, tags=["hello"])
    records = root / "images.json"
    before = records.stat().st_mtime_ns

    calls = {"fsync": 0, "mount": 0}
    real_fsync, real_mount = os.fsync, overlay.mount_overlay

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def mount(*a: object, **k: object) -> None:
        calls["mount"] += 1
        real_mount(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(overlay, "mount_overlay", mount)
    again, events = build(Store(root), ctx, tags=["hello"])
    assert again.id == first.id
    assert events.hits == events.steps == 7
    assert calls == {"fsync": 0, "mount": 0}
    assert records.stat().st_mtime_ns == before  # the tag already named this image


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path in the store but the process's own leases (gone when it ends), with its
    mtime and ctime: a created, removed, rewritten or re-permissioned file changes this."""
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == "leases":
            dirnames[:] = []
            continue
        for name in [".", *dirnames, *files]:
            if rel == "." and name == "leases":
                continue
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.normpath(os.path.join(rel, name))] = (st.st_mtime_ns, st.st_ctime_ns)
    return out


def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


@pytest.mark.root
def test_unchanged_tag_rebuild_writes_nothing_in_the_store(tmp_path: Path) -> None:
    root = make_store(tmp_path).root
    ctx = context(tmp_path, HELLO, {"hello.txt": "hello\n"})
    (ctx / "hello.txt").touch()
    os.utime(ctx / "hello.txt", (1_000_000_000, 1_000_000_000))  # not racy: its hash is remembered
    first, _ = build(Store(root), ctx, tags=["hello"])
    before, mounts = _tree(root), _mountinfo()
    again, events = build(Store(root), ctx, tags=["hello"])
    assert again.id == first.id and events.hits == events.steps
    assert _mountinfo() == mounts
    after = _tree(root)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == []  # no working container made, no cache journal, no record rewritten
