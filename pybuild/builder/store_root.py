"""Where the store lives unless told: its own module, so the build memo's fast path
(build_memo.answer) finds the store without importing the store's code."""

from __future__ import annotations

import os


def default_root() -> str:
    """Where the store lives unless told: ``$PYBUILD_ROOT``, else ``/var/lib/pybuild`` as root,
    else ``$XDG_DATA_HOME/pybuild`` (buildah's layout of defaults)."""
    env = os.environ.get("PYBUILD_ROOT")
    if env:
        return env
    from pybuild.rootless import is_rootless

    if not is_rootless():
        return "/var/lib/pybuild"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "pybuild")
