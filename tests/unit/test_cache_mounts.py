"""RUN --mount=type=cache sharing modes: shared and locked use the one cache directory,
private gives a step that finds the cache in use a fresh one; ids never become paths."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pybuild.builder.run_step import cache_dir, cache_mount
from pybuild.builder.store import Store


def test_private_gives_a_second_user_its_own_dir(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    with cache_mount(store, "pip", "/root/.cache", sharing="private") as first:
        with cache_mount(store, "pip", "/root/.cache", sharing="private") as second:
            assert first.source != second.source
            assert Path(second.source).is_dir()
        with cache_mount(store, "pip", "/root/.cache", sharing="shared") as shared:
            assert shared.source == first.source
    second_dir = Path(second.source)
    assert not second_dir.exists()  # the throw-away cache is gone with its step


def test_locked_waits_for_the_other_user(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    order: list[str] = []

    def other() -> None:
        with cache_mount(store, "apt", "/var/cache/apt", sharing="locked"):
            order.append("other")

    with cache_mount(store, "apt", "/var/cache/apt", sharing="locked") as m:
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.2)
        order.append("first")
        assert m.readonly is False
    t.join(5)
    assert order == ["first", "other"]


def test_ids_are_hashed_never_paths(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    path = cache_dir(store, "../../../etc")
    assert path.parent == store.root / "cache" / "mounts" and ".." not in path.name
