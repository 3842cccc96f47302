"""A network namespace kept alive by a bind mount on a file, as both private-network kinds
(netavark's bridge, slirp4netns) make them: steps join the file, teardown unmounts it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pybuild.errors import SandboxError

_TIMEOUT = 60


def make(path: Path, what: str) -> None:
    """A new network namespace bound on ``path`` (``what`` names the network in errors)."""
    import subprocess  # (opening a store recovers through the callers: no subprocess at import)

    path.touch(0o444)
    proc = subprocess.run(["unshare", f"--net={path}", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=_TIMEOUT, check=False)
    if proc.returncode != 0:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SandboxError(f"{what}: cannot make a network namespace: {proc.stderr.decode(errors='replace').strip()}")


def remove(path: Path) -> None:
    """Unmount and remove ``path``; what is already gone is not an error."""
    from pybuild.builder.sandbox import linux as L

    with contextlib.suppress(OSError):
        L.umount2(str(path), 2)  # MNT_DETACH
    with contextlib.suppress(OSError):
        path.unlink()
