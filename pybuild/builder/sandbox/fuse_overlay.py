"""fuse-overlayfs: the overlay a rootless pybuild uses where the kernel refuses its own in a
user namespace (kernels before 5.11, or a distribution that turns it off), as podman does.

It runs as a daemon of the user namespace; ``umount`` of its mount point ends it. Its upper
directory has the same form as the kernel's (0/0 character devices as whiteouts), except
opaque directories: a ``.wh..wh..opq`` file beside a ``user.fuseoverlayfs.opaque`` xattr,
which the layer writer reads as the opaque marker it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pybuild.errors import SandboxError

FUSE_DEVICE = "/dev/fuse"
_TIMEOUT = 30


def fuse_overlayfs() -> str | None:
    """fuse-overlayfs's binary on PATH, if installed."""
    return shutil.which("fuse-overlayfs")


def unavailable(program: str | None) -> str | None:
    """Why fuse-overlayfs cannot serve here (None: it can be tried)."""
    if not program:
        return "not installed (apt-get install fuse-overlayfs)"
    if not os.access(FUSE_DEVICE, os.R_OK | os.W_OK):
        return f"{FUSE_DEVICE} is not open to this user (Debian's udev makes it 0666)"
    return None


def mount_fuse_overlay(program: str, data: str, target: str) -> None:
    """Mount ``data`` (lowerdir=...,upperdir=...,workdir=...) at ``target`` with ``program``;
    it returns once the mount is there (the daemon goes on in the background)."""
    try:
        proc = subprocess.run([program, "-o", data, target], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SandboxError(f"cannot mount overlay at {target}: {os.path.basename(program)}: {e}") from None
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise SandboxError(f"cannot mount overlay at {target}: {said[-1] if said else f'exit {proc.returncode}'}")


FUSE_OPAQUE_XATTR = "user.fuseoverlayfs.opaque"
_OPQ = ".wh..wh..opq"
_WH = ".wh."


def normalize_upper(upper: str, lowers: list[str]) -> None:
    """Rewrite fuse-overlayfs's markers in ``upper`` into the kernel overlay's form, the one
    stored layers have (so a layer is the same bytes whichever overlay made it): opaque
    directories get the overlay opaque xattr instead of a ``.wh..wh..opq`` file (and the
    whiteout of ``.wh..opq`` it makes beside it goes), and ``.wh.NAME`` files (where it could
    not mknod) become 0/0 character devices. fuse-overlayfs marks every directory it makes
    opaque; the kernel only one that hides something below, so a directory no lower has loses
    the mark (nothing is under it either way)."""
    import stat

    from pybuild.rootless import overlay_opaque_xattr

    for dirpath, _dirs, files in os.walk(upper):
        st_dir = os.lstat(dirpath)
        opaque = _OPQ in files
        try:
            os.removexattr(dirpath, FUSE_OPAQUE_XATTR, follow_symlinks=False)
            opaque = True
        except OSError:
            pass
        if _OPQ in files:
            os.unlink(os.path.join(dirpath, _OPQ))
        rel = os.path.relpath(dirpath, upper)
        if opaque and any(os.path.lexists(os.path.join(lower, rel)) for lower in lowers):
            os.setxattr(dirpath, overlay_opaque_xattr(), b"y", follow_symlinks=False)
        for name in files:
            if name.startswith(_WH) and name != _OPQ:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                os.unlink(path)
                if stat.S_ISCHR(st.st_mode):
                    continue  # its whiteout of ".wh..opq" beside the marker: reserved names are not content
                os.mknod(os.path.join(dirpath, name[len(_WH):]), stat.S_IFCHR | 0o600, os.makedev(0, 0))
                os.lchown(os.path.join(dirpath, name[len(_WH):]), st.st_uid, st.st_gid)
        os.utime(dirpath, ns=(st_dir.st_atime_ns, st_dir.st_mtime_ns), follow_symlinks=False)  # as the step left it


__all__ = ["FUSE_DEVICE", "FUSE_OPAQUE_XATTR", "fuse_overlayfs", "mount_fuse_overlay", "normalize_upper", "unavailable"]
