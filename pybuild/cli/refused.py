"""Flags buildah has whose meaning pybuild lacks (for some values): refused, never ignored.

A buildah user's script that passes ``--isolation rootless`` or ``--rm=false`` must not get a
different product without a word. Such an option is declared with ``cls=Refused``, the values
it does honour in ``allow`` (its default is always honoured), and the reason; any other value
is one line ``Error: FLAG VALUE: REASON`` (exit 125) before the command does anything.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import click

from pybuild.errors import ROOTLESS_AS_ROOT, ConfigError


class Refused(click.Option):
    """An option that refuses every value but its default and ``allow``, saying ``reason``."""

    def __init__(self, *args: Any, reason: str, allow: Collection[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason = reason
        self.allow = tuple(allow)

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        value = super().process_value(ctx, value)
        if value is None or value == self.default or value in self.allow:
            return value
        flag = self.opts[-1]
        shown = f"{flag}={str(value).lower()}" if isinstance(value, bool) else f"{flag} {value}"
        raise ConfigError(f"{shown}: {self.reason}")


class IsolationFlag(Refused):
    """``--isolation``: ``rootless`` (runc in pybuild's user namespace) is taken only when
    pybuild runs rootless; as real root the library refuses it in one line, never quietly
    turning it into chroot."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        if value == "rootless":
            import pybuild

            return pybuild.resolve_isolation(value)  # as real root: the library's one line
        return super().process_value(ctx, value)


# reasons more than one verb gives
ROOTLESS = ROOTLESS_AS_ROOT
USERNS = "user namespaces are not supported yet (steps share pybuild's own: --userns=host)"
ALWAYS_RM = "pybuild always removes a build's intermediate containers"
