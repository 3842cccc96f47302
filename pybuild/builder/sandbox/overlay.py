"""Mounting and unmounting the overlay filesystem of a working container.

Mounted with redirect_dir=off, metacopy=off and index=off so that the upper
directory is always a complete, self-contained diff (renamed directories are
copied up, not recorded as redirects) and lower directories are never written.
Lower paths are passed through short symlinks when the option string would
exceed the kernel's one-page limit.
"""

from __future__ import annotations

import errno
import functools
import os

from pybuild.errors import SandboxError
from pybuild.values import Value

MNT_DETACH = 2
_PAGE = 4096


def mount_overlay(lowers: list[str], upper: str | None, work: str | None, target: str, *,
                  short_dir: str | None = None, program: str | None = None, volatile: bool = False) -> bool:
    """Mount an overlay at ``target``; ``lowers`` are listed topmost first. Without ``upper``
    it is read-only (at least two lowers), and its unmount syncs nothing. ``program``: a
    mount program (fuse-overlayfs) in place of the kernel's overlay. ``volatile`` (a build's
    own container, which a crash leaves to recovery to remove): the kernel's overlay is
    mounted ``volatile``, so its unmount does not sync the store's whole filesystem (60-80 ms
    a step on a busy machine, issue 19), nor does an fsync inside a step; ``work`` must be new
    (it holds the volatile mark), and the caller syncs the filesystem (``linux.syncfs``)
    before the upper directory becomes a layer. Returns whether the mount is volatile (False:
    the kernel refused the option, or a mount program)."""
    if not lowers:
        raise SandboxError("an overlay needs at least one lower directory")
    rw = f",upperdir={_escape(upper)},workdir={_escape(work or '')}" if upper is not None else ""
    lower_opt = ":".join(_escape(p) for p in lowers)
    data = f"lowerdir={lower_opt}{rw}"
    dir_fd: int | None = None
    if len(data) >= _PAGE - 64 and short_dir:
        # the options must fit in one page: name each lower by a short link, reached through
        # a descriptor of the links' directory (/proc/self/fd/N/0...), whatever its own path
        # (a mount program, another process, gets the links' own paths)
        os.makedirs(short_dir, exist_ok=True)
        dir_fd = os.open(short_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        short = []
        for i, p in enumerate(lowers):
            link = os.path.join(short_dir, f"{i:x}")
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(p, link)
            short.append(_escape(link) if program else f"/proc/self/fd/{dir_fd}/{i:x}")
        lower_opt = ":".join(short)
        data = f"lowerdir={lower_opt}{rw}"
    try:
        if program:
            from pybuild.builder.sandbox.fuse_overlay import mount_fuse_overlay

            mount_fuse_overlay(program, data, target)
            return False
        data += "," + _options() + (",volatile" if volatile and upper is not None else "")
        if len(data) >= _PAGE - 1:
            raise SandboxError(f"cannot mount overlay at {target}: {len(lowers)} layers are more than "
                               "one mount can stack")
        return _mount(data, target)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


def _options() -> str:
    """Inside a user namespace overlay keeps its markers in user.overlay.* (``userxattr``, Linux
    5.11+): trusted.* needs the machine's root. userxattr refuses redirect_dir=off where the
    kernel reads "off" as "follow" (6.x): nofollow neither makes nor follows redirects, the same
    self-contained upper."""
    from pybuild.rootless import is_rootless

    if is_rootless():
        return "redirect_dir=nofollow,metacopy=off,index=off,userxattr"
    return "redirect_dir=off,metacopy=off,index=off"


class DriverChoice(Value):
    """How working containers are layered here: ``driver`` overlay or vfs, ``program`` a mount
    program for overlay (fuse-overlayfs) or None for the kernel's, and ``why``."""

    __slots__ = _FIELDS = ("driver", "program", "why")

    def __init__(self, driver: str, program: str | None, why: str) -> None:
        self.driver, self.program, self.why = driver, program, why


@functools.lru_cache(maxsize=4)
def driver_choice(program: str | None = None) -> DriverChoice:
    """What working containers can use here, probed once per process. As root, the kernel's
    overlay when it has one. Rootless: a probe mount of the kernel's overlay with ``userxattr``
    (Linux 5.11+), else fuse-overlayfs (Debian's package) where /dev/fuse is open to the user,
    else vfs. ``program`` (``--storage-opt overlay.mount_program``) is probed instead."""
    from pybuild.rootless import is_rootless

    if program:
        refused = _probe(program)
        if refused:
            raise SandboxError(f"overlay.mount_program {program}: {refused}")
        return DriverChoice("overlay", program, f"{os.path.basename(program)} (asked for)")
    from pybuild.rootless import in_user_namespace

    if os.geteuid() != 0 and not in_user_namespace():
        return DriverChoice("vfs", None, "an ordinary user outside pybuild's user namespace: vfs copies layers")
    if not _kernel_has_overlay():
        kernel = "the kernel has no overlay filesystem"
    elif not is_rootless():
        return DriverChoice("overlay", None, "kernel overlay (root)")
    else:
        refused = _probe(None)
        if not refused:
            return DriverChoice("overlay", None, "kernel overlay in the user namespace (userxattr)")
        kernel = f"kernel overlay refused in the user namespace ({refused})"
    from pybuild.builder.sandbox.fuse_overlay import fuse_overlayfs, unavailable

    fuse = fuse_overlayfs()
    why_not = unavailable(fuse) if is_rootless() else "not used as root"
    if fuse and not why_not:
        why_not = _probe(fuse)
        if not why_not:
            return DriverChoice("overlay", fuse, f"fuse-overlayfs: {kernel}")
    return DriverChoice("vfs", None, f"vfs copies layers: {kernel}; fuse-overlayfs: {why_not}")


def _probe(program: str | None) -> str | None:
    """Why an overlay (kernel or ``program``) cannot be mounted in a scratch dir (None: it can)."""
    import shutil
    import tempfile

    from pybuild.rootless import is_rootless, make_runtime_dir

    base = make_runtime_dir() if is_rootless() else None
    scratch = tempfile.mkdtemp(prefix="overlay-probe-", dir=base)
    try:
        for d in ("l", "u", "w", "m"):
            os.mkdir(os.path.join(scratch, d))
        j = os.path.join
        mount_overlay([j(scratch, "l")], j(scratch, "u"), j(scratch, "w"), j(scratch, "m"), program=program)
        unmount(j(scratch, "m"))
        return None
    except SandboxError as e:
        return str(e).rpartition(": ")[2]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kernel_has_overlay() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def _mount(data: str, target: str) -> bool:
    """Mount; whether the mount is volatile (the option dropped where the kernel lacks it)."""
    import ctypes  # (here and in unmount: is_mounted, all a cached build asks, needs no libc)

    from pybuild.builder.sandbox.linux import libc

    if libc().mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) != 0:
        err = ctypes.get_errno()
        if err == errno.EINVAL and ("index=off" in data or ",volatile" in data):
            # older kernels without some options (volatile: Linux 5.10): retry with the essential ones
            data = data.replace(",index=off", "").replace(",volatile", "")
            if libc().mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) == 0:
                return False
            err = ctypes.get_errno()
        raise SandboxError(f"cannot mount overlay at {target}: {os.strerror(err)}")
    return ",volatile" in data


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def unmount(target: str) -> None:
    """Unmount ``target``; a busy mount is detached lazily rather than left behind."""
    import ctypes

    from pybuild.builder.sandbox.linux import libc

    if libc().umount2(target.encode(), 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return  # not mounted
    if libc().umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise SandboxError(f"cannot unmount {target}: {os.strerror(err)}")


def is_mounted(target: str) -> bool:
    target = os.path.abspath(target)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == target:
                    return True
    except OSError:
        return False
    return False


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
