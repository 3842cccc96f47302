"""Rendering library events: plain lines, JSON lines, or BuildKit's live terminal view.

Plain (not a terminal, or ``$CI``): buildah's lines, each executed step closed by its time
(``--> DONE 0.3s``, as BuildKit's ``#5 DONE 0.3s``). JSON: one event per line. TTY, once a
build step starts: one line per step with a running timer, the running step's last few
output lines under it, cache hits marked ``CACHED``, each step collapsed to its line when
done -- redrawn in place on stderr (:class:`LiveView`). Other verbs keep a line per blob.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from pybuild.events import Event

TAIL_LINES = 6  # output lines shown under a running step
REDRAW_SECONDS = 0.2


class Renderer:
    """Turns library events into output: plain lines, a terminal view, or JSON lines.

    ``mode`` is auto|tty|plain|json|quiet; auto means tty on a terminal outside CI,
    plain otherwise. Plain step headers and RUN output go to ``out`` (stdout, like
    buildah's); the terminal view and warnings to ``err``. Call :meth:`close` when the
    work ends, so a live view leaves its final frame.
    """

    def __init__(self, mode: str = "auto", out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if mode == "auto":
            mode = "tty" if self.err.isatty() and not os.environ.get("CI") else "plain"
        self.mode = mode
        self.live: LiveView | None = None
        self._lock = threading.Lock()
        self.warnings = _log_level() not in ("error", "fatal", "panic")  # --log-level error: no WARN lines

    def __call__(self, event: Event) -> None:
        if event.kind == "warning" and not self.warnings:
            return
        if self.mode == "json":
            self.out.write(json.dumps(event.to_json_dict(), default=str) + "\n")
            self.out.flush()
            return
        if self.mode == "quiet":
            if event.kind == "warning":
                self.err.write(f"WARN: {event.message}\n")
            return
        if self.mode == "tty":
            with self._lock:  # stages run on threads of their own: one view for all
                if self.live is None and event.kind == "step" and "step" in event.data:
                    self.live = LiveView(self.err)  # a build: from here on the live view draws
                live = self.live
            if live is not None:
                live.add(event)
                return
        self._plain(event)

    def close(self, *, failed: bool = False) -> None:
        """The work ended: a live view draws its last frame (a failed step keeps its output)."""
        with self._lock:
            live, self.live = self.live, None
        if live is not None:
            live.close(failed=failed)

    def _plain(self, event: Event) -> None:
        kind = event.kind
        if kind == "output":
            self.out.write(event.message)
            self.out.flush()
        elif kind == "blob":
            self._blob(event)
        elif kind == "image":
            return  # the command prints the image ID itself, last
        elif kind == "step-done":
            if not event.data.get("cached"):
                self.out.write(f"--> DONE {_seconds(event.data.get('duration'))}\n")
                self.out.flush()
        elif kind == "warning":
            self.err.write(f"WARN: {event.message}\n")
            self.err.flush()
        elif event.message:
            self.out.write(event.message + "\n")
            self.out.flush()

    def _blob(self, event: Event) -> None:
        data = dict(event.data)
        if data.get("action") == "skip":
            self.err.write(f"Copying blob {_short(data)} skipped: already exists\n")
            return
        done, total = data.get("done", 0), data.get("total")
        if self.mode == "tty":
            end = "\n" if total and done >= total else "\r"
            self.err.write(_blob_line(data) + end)
            self.err.flush()
        elif data.get("finished") or (total and done >= total):
            self.err.write(f"{_blob_action(data)} {_short(data)} done ({human_size(done)})\n")
            self.err.flush()


def _log_level() -> str:
    """The running command's global --log-level (warn outside a command, as for a library caller)."""
    import click

    ctx = click.get_current_context(silent=True)
    level = ctx.find_root().params.get("log_level") if ctx is not None else None
    return level if isinstance(level, str) else "warn"


def renderer_for(progress: str, quiet: bool, **kwargs: Any) -> Renderer:
    return Renderer("quiet" if quiet else progress, **kwargs)


@dataclass
class _Step:
    """One line of the live view: a build step, or the final commit."""

    title: str
    started: float
    ended: float | None = None
    cached: bool = False
    failed: bool = False
    keep_tail: bool = False  # the commit's lines (the names it tagged) stay when done
    tail: list[str] = field(default_factory=list)
    partial: str = ""  # output after the last newline
    status: str = ""  # a blob transfer line, replaced as it moves

    def write(self, text: str) -> None:
        lines = (self.partial + text).replace("\r\n", "\n").split("\n")
        self.partial = lines.pop()[-4096:]
        self.tail = (self.tail + [_printable(line.rsplit("\r", 1)[-1]) for line in lines])[-TAIL_LINES:]

    def lines(self, now: float, width: int, final: bool) -> list[str]:
        mark = "ERROR " if self.failed else ("CACHED " if self.cached else "")
        elapsed = (self.ended if self.ended is not None else now) - self.started
        out = [_fit(f" => {mark}{self.title}", _seconds(elapsed), width)]
        running = self.ended is None
        if running or self.failed or self.keep_tail:
            partial = _printable(self.partial.rsplit("\r", 1)[-1])
            shown = self.tail + ([partial] if partial else []) + ([self.status] if self.status else [])
            if not final or self.failed or self.keep_tail:
                out += [_fit(f" => => # {line}" if not self.keep_tail else f" => => {line}", "", width)
                        for line in shown[-TAIL_LINES:]]
        return out


class LiveView:
    """BuildKit's terminal view of a build, redrawn in place (on its own thread for the timers).

    Events of one stage come from that stage's thread, so a thread's output, cache hits
    and notes belong to the step it started last. Warnings print above the view."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.start = time.monotonic()
        self.steps: list[_Step] = []
        self.by_key: dict[tuple[str, int], _Step] = {}
        self.current: dict[int, _Step] = {}  # thread -> the step it runs
        self.total: dict[str, int] = {}  # stage -> its step count
        self.above: list[str] = []  # lines to print once, above the view
        self.height = 0  # lines of the last frame
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._tick, name="progress", daemon=True)
        self.thread.start()

    def add(self, event: Event) -> None:
        with self.lock:
            self._add(event)
            self._draw()

    def _add(self, event: Event) -> None:
        now = time.monotonic()
        data = event.data
        thread = threading.get_ident()
        step = self.current.get(thread)
        if event.kind == "step" and "step" in data:
            stage = str(data.get("stage", ""))
            self.total[stage] = int(data.get("total") or 0)
            step = _Step(_printable(" ".join(event.message.split())), now)
            self.steps.append(step)
            self.by_key[(stage, int(data["step"]))] = step
            self.current[thread] = step
        elif event.kind == "step-done":
            done = self.by_key.get((str(data.get("stage", "")), int(data.get("step") or 0))) or step
            if done is not None:
                done.ended = now
                done.cached = bool(data.get("cached"))
            self.current.pop(thread, None)
        elif event.kind == "cache-hit":
            if step is not None:
                step.cached = True
        elif event.kind == "output":
            if step is not None:
                step.write(event.message)
        elif event.kind == "blob":
            if step is not None:
                step.status = _blob_line(dict(data))
        elif event.kind == "warning":
            self.above.append(f"WARN: {event.message}")
        elif event.kind == "image":
            if step is not None:
                step.ended = now
            self.current.pop(thread, None)
        elif event.message:
            if step is None:  # after the last step: the commit ("COMMIT app", its tags)
                step = _Step(event.message, now, keep_tail=True)
                self.steps.append(step)
                self.current[thread] = step
            elif step.keep_tail and event.message.startswith("-->"):
                return  # the commit's "--> ID": the command prints the ID itself
            else:
                step.write(event.message + "\n")

    def close(self, *, failed: bool = False) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        with self.lock:
            now = time.monotonic()
            for step in self.steps:
                if step.ended is None:
                    step.ended = now
                    step.failed = failed and not step.keep_tail
            self._draw(final=True, failed=failed)

    def _tick(self) -> None:
        while not self.stopped.wait(REDRAW_SECONDS):
            with self.lock:
                if not self.stopped.is_set():
                    self._draw()

    def _draw(self, *, final: bool = False, failed: bool = False) -> None:
        width, rows = _terminal_size(self.err)
        now = time.monotonic()
        done = sum(1 for s in self.steps if s.ended is not None and not s.keep_tail)
        state = (" ERROR" if failed else " FINISHED") if final else ""
        header = f"[+] Building {_seconds(now - self.start)} ({done}/{sum(self.total.values())}){state}"
        body: list[str] = []
        for step in self.steps:
            body += step.lines(now, width, final)
        if not final and len(body) + 1 > rows - 1:
            body = body[-(rows - 2):]  # what fits; the last frame shows every step
        frame = [*self.above, header[:width - 1], *body]
        self.above = []
        up = f"\x1b[{self.height}F" if self.height else "\r"
        self.err.write(up + "".join(f"\x1b[2K{line}\n" for line in frame) + "\x1b[J")
        self.err.flush()
        self.height = 1 + len(body)  # the lines printed above stay; the next frame starts at the header


@functools.cache
def _escapes() -> re.Pattern[str]:
    """Terminal escapes (CSI, OSC, two-byte), compiled when a live view first draws output."""
    return re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)")


def _printable(text: str) -> str:
    """A program's output as one display line: its colours and cursor moves dropped, tabs expanded,
    so it cannot move the view or make the line longer than it looks."""
    text = _escapes().sub("", text).expandtabs(8)
    return "".join(ch for ch in text if ch.isprintable())


def _terminal_size(stream: TextIO) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
        return max(size.columns, 20), max(size.lines, 5)
    except (OSError, ValueError, AttributeError):
        return 80, 24


def _fit(left: str, right: str, width: int) -> str:
    """``left`` and ``right`` on one terminal line of ``width`` (never wrapping)."""
    room = width - 1 - (len(right) + 1 if right else 0)
    if len(left) > room:
        left = left[:max(0, room - 3)] + "..."
    return f"{left.ljust(room)} {right}" if right else left


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):.1f}s"
    except (TypeError, ValueError):
        return "?s"


def _short(data: dict[str, Any]) -> str:
    return str(data.get("digest", "")).split(":")[-1][:12]


def _blob_action(data: dict[str, Any]) -> str:
    action = str(data.get("action") or "")
    return "Copying blob" if action in ("", "copy", "skip", "recompress") else action


def _blob_line(data: dict[str, Any]) -> str:
    done, total = data.get("done", 0), data.get("total")
    pct = f"{100 * done // total:3d}%" if total else ""
    return f"{_blob_action(data)} {_short(data)} {human_size(done)}/{human_size(total) if total else '?'} {pct}".rstrip()


def human_size(n: int | None) -> str:
    """A size as buildah shows one (its ``formattedSize``: base 1000, 3 significant digits,
    ``1.23 MB``): ``images`` and the blob progress lines say sizes alike. (Limits in error
    messages keep their binary units, as pybuild.conf writes them: oci/limits.human_size.)"""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} TB"
