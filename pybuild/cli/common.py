"""What every command shares: global options, opening the store, rendering events (progress.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from pybuild.cli.progress import Renderer, renderer_for

if TYPE_CHECKING:
    from pybuild import Store


@dataclass
class GlobalOptions:
    root_flag: str | None = None
    storage_driver: str | None = None
    log_level: str = "warn"
    storage_opts: tuple[str, ...] = ()

    @property
    def root(self) -> str:
        """--root, else the default (worked out only when a command needs the store)."""
        if self.root_flag:
            return self.root_flag
        import pybuild

        return pybuild.default_root()

    def open_store(self) -> Store:
        """The library's store: opening it recovers what dead processes left, as for any caller.
        An ordinary user's commands work in pybuild's user namespace, where the store's files
        have the build's owners; without subordinate ids they go on outside until a step needs
        it (then one line naming the fix)."""
        import pybuild

        pybuild.enter_user_namespace(required=False)
        return pybuild.Store(self.root, storage_driver=self.storage_driver, storage_opts=self.storage_opts)


pass_globals = click.make_pass_decorator(GlobalOptions)


def progress_option(f: Any) -> Any:
    """``--progress auto|tty|plain|json``: how long work reports itself (auto: a live view
    on a terminal, plain lines otherwise or under CI; json: one event per line)."""
    return click.option("--progress", type=click.Choice(["auto", "tty", "plain", "json"]), default="auto",
                        help="Progress display: auto, tty, plain or json (one event per line).")(f)


__all__ = ["GlobalOptions", "Renderer", "pass_globals", "progress_option", "renderer_for"]
