"""``-v SRC:DST[:OPTIONS]`` (bud, from, run) as a bind mount, checked when the flag is read.

A leaf of its own: bud's flag checks (build_request), RUN steps (run_step) and the buildah
verbs (workflow) all read it, and none of them may import another for it.
"""

from __future__ import annotations

import os
from typing import Any

from pybuild.errors import ConfigError

__all__ = ["parse_volume"]


def parse_volume(value: str) -> Any:
    """``-v SRC:DST[:OPTIONS]`` as a bind mount. OPTIONS are ro or rw, and z or Z (SELinux
    relabelling, which means nothing on a host without SELinux); any other is refused, not ignored."""
    from pybuild.builder.sandbox import Mount

    parts = value.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1] or len(parts) > 3:
        raise ConfigError(f"invalid --volume {value!r} (use SRC:DST[:ro])")
    opts = parts[2].split(",") if len(parts) > 2 else []
    known = {"ro", "rw"} | (set() if os.path.exists("/sys/fs/selinux/enforce") else {"z", "Z"})
    unknown = [o for o in opts if o not in known]
    if unknown:
        raise ConfigError(f"--volume {value}: option {unknown[0]!r} is not supported ({', '.join(sorted(known))})")
    if not os.path.exists(parts[0]):
        raise ConfigError(f"--volume source {parts[0]} does not exist")
    return Mount(target=parts[1], source=os.path.abspath(parts[0]), type="bind", readonly="ro" in opts)
