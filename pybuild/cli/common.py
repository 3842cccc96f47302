"""What every command shares: global options, opening the store, rendering events."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

from pybuild.events import Event

if TYPE_CHECKING:
    from pybuild.builder.store import Store


@dataclass
class GlobalOptions:
    root_flag: str | None = None
    storage_driver: str | None = None
    log_level: str = "warn"

    @property
    def root(self) -> str:
        """--root, else the default (worked out only when a command needs the store)."""
        if self.root_flag:
            return self.root_flag
        from pybuild.builder.store import default_root

        return default_root()

    def open_store(self) -> Store:
        from pybuild.builder.recovery import open_store

        return open_store(self.root, storage_driver=self.storage_driver)


pass_globals = click.make_pass_decorator(GlobalOptions)


def progress_option(f: Any) -> Any:
    """``--progress auto|tty|plain|json``: how long work reports itself (auto: a live view
    on a terminal, plain lines otherwise or under CI; json: one event per line)."""
    return click.option("--progress", type=click.Choice(["auto", "tty", "plain", "json"]), default="auto",
                        help="Progress display: auto, tty, plain or json (one event per line).")(f)


def renderer_for(progress: str, quiet: bool, **kwargs: Any) -> Renderer:
    return Renderer("quiet" if quiet else progress, **kwargs)


class Renderer:
    """Turns library events into output: plain lines, a terminal view, or JSON lines.

    ``mode`` is auto|tty|plain|json|quiet; auto means tty on a terminal outside CI,
    plain otherwise. Step headers and RUN output go to stdout like buildah's.
    """

    def __init__(self, mode: str = "auto", out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if mode == "auto":
            mode = "tty" if self.err.isatty() and not os.environ.get("CI") else "plain"
        self.mode = mode
        self._last_blob_line: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        if self.mode == "json":
            self.out.write(json.dumps(event.to_json_dict(), default=str) + "\n")
            self.out.flush()
            return
        if self.mode == "quiet":
            if event.kind == "warning":
                self.err.write(f"WARN: {event.message}\n")
            return
        kind = event.kind
        if kind == "output":
            self.out.write(event.message)
            self.out.flush()
        elif kind == "blob":
            self._blob(event)
        elif kind == "image":
            return  # the command prints the image ID itself, last
        elif kind == "warning":
            self.err.write(f"WARN: {event.message}\n")
            self.err.flush()
        elif event.message:
            self.out.write(event.message + "\n")
            self.out.flush()

    def _blob(self, event: Event) -> None:
        data: dict[str, Any] = dict(event.data)
        digest = str(data.get("digest", ""))
        done, total = data.get("done", 0), data.get("total")
        action = {"copy": "Copying blob", "skip": "Copying blob", "recompress": "Copying blob"}.get(
            str(data.get("action", "")), str(data.get("action") or "Copying blob"))
        if data.get("action") == "skip":
            self.err.write(f"Copying blob {digest.split(':')[-1][:12]} skipped: already exists\n")
            return
        short = digest.split(":")[-1][:12]
        if self.mode == "tty":
            pct = f"{100 * done // total:3d}%" if total else ""
            end = "\n" if total and done >= total else "\r"
            self.err.write(f"{action} {short} {_human(done)}/{_human(total) if total else '?'} {pct}{end}")
            self.err.flush()
        elif data.get("finished") or (total and done >= total):
            self.err.write(f"{action} {short} done ({_human(done)})\n")
            self.err.flush()


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1024
    return f"{size:.1f}GiB"
