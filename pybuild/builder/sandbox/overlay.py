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

MNT_DETACH = 2
_PAGE = 4096


def mount_overlay(lowers: list[str], upper: str, work: str, target: str, *, short_dir: str | None = None) -> None:
    """Mount an overlay at ``target``; ``lowers`` are listed topmost first."""
    if not lowers:
        raise SandboxError("an overlay needs at least one lower directory")
    lower_opt = ":".join(_escape(p) for p in lowers)
    data = f"lowerdir={lower_opt},upperdir={_escape(upper)},workdir={_escape(work)},{_options()}"
    dir_fd: int | None = None
    if len(data) >= _PAGE - 1 and short_dir:
        # the options must fit in one page: name each lower by a short link, reached through
        # a descriptor of the links' directory (/proc/self/fd/N/0...), whatever its own path
        os.makedirs(short_dir, exist_ok=True)
        dir_fd = os.open(short_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        short = []
        for i, p in enumerate(lowers):
            link = os.path.join(short_dir, f"{i:x}")
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(p, link)
            short.append(f"/proc/self/fd/{dir_fd}/{i:x}")
        lower_opt = ":".join(short)
        data = f"lowerdir={lower_opt},upperdir={_escape(upper)},workdir={_escape(work)},{_options()}"
    try:
        if len(data) >= _PAGE - 1:
            raise SandboxError(f"cannot mount overlay at {target}: {len(lowers)} layers are more than "
                               "one mount can stack")
        _mount(data, target)
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


@functools.lru_cache(maxsize=1)
def driver_choice() -> tuple[str, str]:
    """("overlay" | "vfs", why): what working containers can use here. As root, overlay when the
    kernel has it; rootless, a probe mount (once per process) of overlay with ``userxattr``
    in a scratch dir of :func:`pybuild.rootless.make_runtime_dir`."""
    from pybuild.rootless import is_rootless, make_runtime_dir

    if not _kernel_has_overlay():
        return "vfs", "the kernel has no overlay filesystem"
    if not is_rootless():
        return "overlay", "kernel overlay (root)"
    import shutil
    import tempfile

    base = make_runtime_dir()
    scratch = tempfile.mkdtemp(prefix="overlay-probe-", dir=base)
    try:
        for d in ("l", "u", "w", "m"):
            os.mkdir(os.path.join(scratch, d))
        j = os.path.join
        mount_overlay([j(scratch, "l")], j(scratch, "u"), j(scratch, "w"), j(scratch, "m"))
        unmount(j(scratch, "m"))
        return "overlay", "kernel overlay in the user namespace (userxattr)"
    except SandboxError as e:
        return "vfs", f"overlay refused in the user namespace ({str(e).rpartition(': ')[2]}): vfs copies layers"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _kernel_has_overlay() -> bool:
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def _mount(data: str, target: str) -> None:
    import ctypes  # (here and in unmount: is_mounted, all a cached build asks, needs no libc)

    from pybuild.builder.sandbox.linux import libc

    if libc().mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) != 0:
        err = ctypes.get_errno()
        if err == errno.EINVAL and "index=off" in data:
            # older kernels without some options: retry with the essential ones
            data = data.replace(",index=off", "")
            if libc().mount(b"overlay", target.encode(), b"overlay", 0, data.encode()) == 0:
                return
            err = ctypes.get_errno()
        raise SandboxError(f"cannot mount overlay at {target}: {os.strerror(err)}")


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
