"""Progress events: the library reports, the caller decides how to show it.

The library never prints. Long operations take an ``on_event`` callback and call
it with :class:`Event` values; the CLI renders them as plain lines, a TTY
display, or JSON lines. A library user passes any callable (or nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Event kinds. Keep the set small; ``data`` carries the details.
STEP = "step"  # a build step starts: data = {step, total, stage, instruction, line}
CACHE_HIT = "cache-hit"  # a step was answered from the cache: data = {step, key}
STEP_DONE = "step-done"  # a build step finished: data = {step, total, stage, duration (seconds), cached}
OUTPUT = "output"  # bytes a RUN step wrote (message holds the decoded text)
BLOB = "blob"  # blob transfer progress: data = {digest, done, total, action}
IMAGE = "image"  # an image was written: data = {id, names}
INFO = "info"  # a plain informational line
WARNING = "warning"  # something the user should know, not an error


@dataclass(frozen=True)
class Event:
    """One thing that happened; ``message`` is a human line, ``data`` is for machines."""

    kind: str
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **dict(self.data)}


EventCallback = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default callback: drop every event."""


def emit(callback: EventCallback | None, kind: str, message: str = "", **data: Any) -> None:
    """Send an event to ``callback`` if there is one."""
    if callback is not None:
        callback(Event(kind, message, data))


__all__ = ["Event", "EventCallback", "emit", "ignore", "STEP", "CACHE_HIT", "STEP_DONE", "OUTPUT", "BLOB",
           "IMAGE", "INFO", "WARNING"]
