"""Helpers for tests that run the build executor in-process (the library, as a user's code
would): a build that collects its events, and the files and config of an image as a user
sees them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pybuild
from pybuild.builder.store import Image, Store
from pybuild.events import CACHE_HIT, STEP
from tests.containers_helpers import tree


class Events(list[Any]):
    """The events of one build; ``steps`` and ``hits`` count what a user sees."""

    @property
    def steps(self) -> int:
        return sum(1 for e in self if e.kind == STEP and e.data.get("step", 1) > 1)

    @property
    def hits(self) -> int:
        return sum(1 for e in self if e.kind == CACHE_HIT)


def build(store: Store, context: Path, text: str | None = None, **options: Any) -> tuple[Image, Events]:
    """Build ``text`` (or the context's Containerfile) in ``context``; the image and its events."""
    events = Events()
    image = pybuild.build(context, store=store, containerfile_text=text, on_event=events.append, **options)
    return image, events


def vfs_store(root: Path) -> Store:
    """A store whose containers are plain copies: builds from scratch need no root."""
    return Store(root, storage_driver="vfs")


def image_tree(store: Store, image: Image | str) -> dict[str, tuple[object, ...]]:
    """Every path of the image's root filesystem: type, mode, owner, content (not mtimes)."""
    from pybuild.builder.container import WorkingContainer

    img = store.image(image) if isinstance(image, str) else image
    wc = WorkingContainer.create(store, img, record=False)
    try:
        with wc.mounted() as root:
            return tree(Path(root))
    finally:
        with contextlib.suppress(Exception):
            wc.remove()


def user_config(image: Image) -> dict[str, Any]:
    """The config fields a user sees (``inspect``), without dates and history."""
    cfg = image.config.config
    return {"User": cfg.user, "Env": cfg.env, "Cmd": cfg.cmd, "Entrypoint": cfg.entrypoint,
            "WorkingDir": cfg.working_dir, "Labels": cfg.labels, "ExposedPorts": cfg.exposed_ports,
            "Volumes": cfg.volumes, "StopSignal": cfg.stop_signal, "Healthcheck": cfg.healthcheck,
            "OnBuild": cfg.on_build, "Shell": cfg.shell, "layers": len(image.layers)}


def engine_build(store: Store, context: Path, text: str, sandbox: Any = None, *,
                 run: dict[str, Any] | None = None, output: dict[str, Any] | None = None,
                 **options: Any) -> tuple[Image, Events]:
    """Build ``text`` with the executor itself (every BuildOptions field reachable), RUN steps
    going to ``sandbox`` (default: a FakeSandbox): the engine without root."""
    from pybuild.builder.executor import build as run_build
    from pybuild.builder.options import BuildOptions, OutputOptions, RunOptions
    from pybuild.builder.sandbox.fake import FakeSandbox

    events = Events()
    opts = BuildOptions(context=str(context), containerfile_text=text, on_event=events.append,
                        run=RunOptions(**{"isolation": "chroot", **(run or {})}),
                        output=OutputOptions(**(output or {})), **options)
    with store.leased():
        image = run_build(store, opts, sandbox=sandbox if sandbox is not None else FakeSandbox())
    return image, events
