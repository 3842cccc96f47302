"""``--storage-opt`` and ``$STORAGE_OPTS`` (containers/storage's spellings): the one storage
option pybuild has is overlay's mount program (fuse-overlayfs); any other is refused."""

from __future__ import annotations

import os
from collections.abc import Iterable

from pybuild.errors import ConfigError

_MOUNT_PROGRAM = ("overlay.mount_program", "mount_program")


def mount_program(opts: Iterable[str], where: str = "--storage-opt") -> str | None:
    """The mount program ``opts`` name (``overlay.mount_program=PATH``), else $STORAGE_OPTS's,
    else None; an option pybuild lacks, or a PATH that is not executable, is one line."""
    given = list(opts)
    if not given and os.environ.get("STORAGE_OPTS"):
        given, where = [o for o in os.environ["STORAGE_OPTS"].split(",") if o], "STORAGE_OPTS"
    program = None
    for opt in given:
        key, sep, value = opt.partition("=")
        if key.strip() not in _MOUNT_PROGRAM or not sep:
            raise ConfigError(f"{where} {opt}: pybuild knows only overlay.mount_program=PATH")
        program = value.strip()
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise ConfigError(f"{where} {opt}: {program} is not an executable file")
    return program


__all__ = ["mount_program"]
