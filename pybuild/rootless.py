"""The one place that knows whether pybuild runs rootless, and what follows from it.

Rootless pybuild runs as uid 0 inside a user namespace of its own (entered by
:func:`pybuild.builder.sandbox.userns.enter_user_namespace`): ``geteuid()`` is 0 there, so
"am I root" is never enough. The store, the run-time files, the overlay xattrs and the
network all ask here instead.
"""

from __future__ import annotations

import functools
import os
import pwd
import tempfile

_FULL_MAP = ["0", "0", "4294967295"]


@functools.lru_cache(maxsize=1)
def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the machine's (uid 0 inside,
    an ordinary user outside). Cached: a process enters one at most once, before any thread."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != _FULL_MAP
    except OSError:
        return False


def is_rootless() -> bool:
    """No real root here: an ordinary user, or uid 0 of a user namespace."""
    return os.geteuid() != 0 or in_user_namespace()


def host_uid() -> int:
    """The uid on the machine that this process's uid 0 (or own uid) stands for."""
    if not in_user_namespace():
        return os.getuid()
    env = os.environ.get("PYBUILD_HOST_UID")  # set by enter_user_namespace for its children
    if env and env.isdigit():
        return int(env)
    with open("/proc/self/uid_map") as f:
        for line in f:
            inside, outside, _count = line.split()
            if inside == str(os.getuid()):
                return int(outside)
    return os.getuid()


def host_user() -> str:
    """The name of :func:`host_uid` (its number when it has no passwd entry)."""
    uid = host_uid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def runtime_dir() -> str:
    """Where a rootless pybuild keeps run-time files (network state, probes):
    ``$XDG_RUNTIME_DIR/pybuild`` when that is writable, else ``/tmp/pybuild-UID`` (made private
    by :func:`make_runtime_dir`). Only names it: nothing is created."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return os.path.join(runtime, "pybuild")
    return os.path.join(tempfile.gettempdir(), f"pybuild-{host_uid()}")


def make_runtime_dir() -> str:
    """:func:`runtime_dir`, created 0700; refused (one line) when someone else owns it or it
    is a link, since another user could then read or replace what pybuild keeps there."""
    path = runtime_dir()
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or not os.path.isdir(path) or os.path.islink(path):
        from pybuild.errors import ConfigError

        raise ConfigError(f"{path} is not a directory of this user's: set XDG_RUNTIME_DIR to one")
    return path


def overlay_xattr_prefix() -> str:
    """The overlay filesystem's xattr namespace here: ``user.overlay.`` inside a user namespace
    (mounted with ``userxattr``, since trusted.* needs real root), else ``trusted.overlay.``."""
    return "user.overlay." if is_rootless() else "trusted.overlay."


def overlay_opaque_xattr() -> str:
    """The xattr that marks an opaque directory in an overlay upper or a stored layer."""
    return overlay_xattr_prefix() + "opaque"


def credentials_path() -> str:
    """Where podman keeps this user's registry credentials: ``$XDG_RUNTIME_DIR/containers/auth.json``,
    else ``/run/containers/UID/auth.json`` (the machine's uid, also inside a user namespace)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "containers", "auth.json")
    return f"/run/containers/{host_uid()}/auth.json"


def describe_rootless() -> dict[str, object]:
    """What ``pybuild info`` says: rootless or not, and inside a user namespace its id maps
    (buildah info's uidmap/gidmap: container id, host id, size)."""
    out: dict[str, object] = {"Rootless": is_rootless()}
    if in_user_namespace():
        for kind in ("uid", "gid"):
            try:
                with open(f"/proc/self/{kind}_map") as f:
                    out[f"{kind.upper()}Map"] = [dict(zip(("container_id", "host_id", "size"), map(int, line.split()),
                                                          strict=True)) for line in f if line.strip()]
            except OSError:
                pass
    return out


__all__ = ["credentials_path", "describe_rootless", "host_uid", "host_user", "in_user_namespace", "is_rootless",
           "make_runtime_dir", "overlay_opaque_xattr", "overlay_xattr_prefix", "runtime_dir"]
