"""``--security-opt`` values, read as buildah reads them, into what the sandbox applies.

Accepted: ``seccomp=unconfined`` (no filter), ``seccomp=FILE`` (that profile instead of the
default), ``no-new-privileges`` (also ``no-new-privileges=true|false``), and the two values
whose meaning pybuild already has — ``apparmor=unconfined`` (pybuild applies no AppArmor
profile) and ``label=disable`` (it applies no SELinux label). Anything else would be
accepted and ignored, so it is refused with a line that says so. ``name:value`` is taken
as Docker spells it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from pybuild.errors import ConfigError
from pybuild.values import Value

DEFAULT = "default"
UNCONFINED = "unconfined"
_WHERE = "--security-opt"


class SecurityOptions(Value):
    """What a step runs under: ``seccomp`` is "default", "unconfined" or a profile's path."""

    __slots__ = _FIELDS = ("seccomp", "no_new_privileges")

    def __init__(self, seccomp: str = DEFAULT, no_new_privileges: bool = False) -> None:
        self.seccomp = seccomp
        self.no_new_privileges = no_new_privileges

    def as_opts(self) -> list[str]:
        """The ``--security-opt`` values that give these options again (a profile by its absolute
        path), for a working container to keep."""
        out = [] if self.seccomp == DEFAULT else [f"seccomp={self.seccomp}"]
        return out + (["no-new-privileges"] if self.no_new_privileges else [])

    def cache_key(self) -> dict[str, Any] | None:
        """What a RUN step's cache key must add (None for the defaults, so keys stay as they
        were); a profile counts by its content, never its host path."""
        if self.seccomp == DEFAULT and not self.no_new_privileges:
            return None
        seccomp = self.seccomp
        if seccomp not in (DEFAULT, UNCONFINED):
            with open(seccomp, "rb") as f:
                seccomp = "sha256:" + hashlib.sha256(f.read()).hexdigest()
        return {"seccomp": seccomp, "no_new_privileges": self.no_new_privileges}


def _bool(raw: str, value: str) -> bool:
    v = value.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise ConfigError(f"invalid {raw!r}: no-new-privileges takes true or false", where=_WHERE)


def parse_security_opts(values: Sequence[str], base: SecurityOptions | None = None) -> SecurityOptions:
    """``--security-opt`` values (later ones win) over ``base``; ConfigError for the rest."""
    seccomp = base.seccomp if base else DEFAULT
    nnp = base.no_new_privileges if base else False
    for raw in values:
        opt = raw.strip()
        if opt == "no-new-privileges":
            nnp = True
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if not sep or not key or not value:
            raise ConfigError(f"invalid {raw!r}: use name=value (seccomp=, apparmor=, label=) or "
                              "no-new-privileges", where=_WHERE)
        if key == "no-new-privileges":
            nnp = _bool(raw, value)
        elif key == "seccomp":
            if value == UNCONFINED:
                seccomp = UNCONFINED
            else:
                from pybuild.builder.sandbox.seccomp import load_profile  # (ctypes: only for a profile)

                load_profile(value)  # a bad file is an error now, not at the first RUN
                seccomp = os.path.abspath(value)
        elif key == "apparmor":
            if value != UNCONFINED:
                raise ConfigError(f"{raw!r}: pybuild applies no AppArmor profile; only apparmor=unconfined "
                                  "is accepted", where=_WHERE)
        elif key == "label":
            if value != "disable":
                raise ConfigError(f"{raw!r}: pybuild applies no SELinux labels; only label=disable is "
                                  "accepted", where=_WHERE)
        else:
            raise ConfigError(f"{raw!r} is not supported (seccomp=unconfined|FILE, no-new-privileges, "
                              "apparmor=unconfined, label=disable)", where=_WHERE)
    return SecurityOptions(seccomp=seccomp, no_new_privileges=nnp)


__all__ = ["SecurityOptions", "parse_security_opts", "DEFAULT", "UNCONFINED"]
