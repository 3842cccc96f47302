"""Thin ctypes wrappers over the Linux calls the sandbox needs and Python lacks.

unshare, mount, umount2, pivot_root, sethostname, prctl and capset. Each raises
OSError with the errno, like the ``os`` module does. libc is loaded on first
use, so importing this module has no side effect.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# statvfs f_flag bits -> mount flags, to keep a bind's flags when remounting it read-only.
_ST_TO_MS = ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
             (2048, MS_NODIRATIME), (4096, MS_RELATIME))

_SYSCALLS = {
    # machine: (pivot_root, capset)
    "x86_64": (155, 126),
    "aarch64": (41, 91),
    "arm64": (41, 91),
    "riscv64": (41, 91),
    "ppc64le": (203, 184),
    "s390x": (217, 185),
}


# mount_setattr(2) (Linux 5.12): one number on every architecture (new syscalls share the table)
_MOUNT_SETATTR_NR = 442
MOUNT_ATTR_NODEV = 0x4
AT_RECURSIVE = 0x8000


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def load_library(soname: str, name: str) -> ctypes.CDLL:
    """``soname`` opened directly, else ``name`` as ctypes.util finds it: find_library runs
    ``ldconfig -p`` (a fork and exec, ~3 ms) and imports subprocess, which a step on a
    glibc host never needs (issue 19). OSError when neither opens."""
    try:
        return ctypes.CDLL(soname, use_errno=True)
    except OSError:
        from ctypes.util import find_library

        found = find_library(name)
        if not found:
            raise
        return ctypes.CDLL(found, use_errno=True)


class _Libc:
    """libc functions with argument types set; created once, on first use."""

    def __init__(self) -> None:
        lib = load_library("libc.so.6", "c")
        self.unshare = lib.unshare
        self.unshare.argtypes = [ctypes.c_int]
        self.setns = lib.setns
        self.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        self.mount = lib.mount
        self.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                               ctypes.c_char_p]
        self.umount2 = lib.umount2
        self.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.sethostname = lib.sethostname
        self.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self.prctl = lib.prctl
        self.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.syncfs = lib.syncfs
        self.syncfs.argtypes = [ctypes.c_int]
        self.syscall = lib.syscall
        self.syscall.restype = ctypes.c_long
        self.pivot_root_nr, self.capset_nr = _SYSCALLS.get(platform.machine(), (155, 126))


_LIBC: _Libc | None = None


def libc() -> _Libc:
    """The loaded libc (call once before fork so the child does no loading)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = _Libc()
    return _LIBC


def _check(rc: int, what: str, path: str | None = None) -> None:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(libc().setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(libc().mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {fstype or 'bind'}", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(libc().umount2(_b(target), flags), "umount", target)


def syncfs(path: str) -> None:
    """Write out everything the filesystem holding ``path`` has not written yet (syncfs(2))."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _check(libc().syncfs(fd), "syncfs", path)
    finally:
        os.close(fd)


def pivot_root(new_root: str, put_old: str) -> None:
    lc = libc()
    _check(lc.syscall(ctypes.c_long(lc.pivot_root_nr), ctypes.c_char_p(_b(new_root)),
                      ctypes.c_char_p(_b(put_old))), "pivot_root", new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(libc().sethostname(raw, len(raw)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    _check(libc().prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_nodev_recursive(target: str) -> None:
    """Mark the mount at ``target`` and every mount below it nodev (mount_setattr with
    AT_RECURSIVE): device nodes there cannot be opened, whoever made them."""
    lc = libc()
    attr = _MountAttr(MOUNT_ATTR_NODEV, 0, 0, 0)
    _check(lc.syscall(ctypes.c_long(_MOUNT_SETATTR_NR), ctypes.c_int(-100), ctypes.c_char_p(_b(target)),
                      ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))),
           "mount_setattr nodev", target)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks)."""
    lc = libc()
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(lc.syscall(ctypes.c_long(lc.capset_nr), ctypes.byref(hdr), ctypes.byref(data)), "capset")


def mount_flags_of(path: str) -> int:
    """The flags a mount at ``path`` carries, as mount(2) flags (for a read-only remount)."""
    st = os.statvfs(path)
    flags = 0
    for st_bit, ms_bit in _ST_TO_MS:
        if st.f_flag & st_bit:
            flags |= ms_bit
    return flags


def bind_readonly(target: str) -> None:
    """Remount the bind mount at ``target`` read-only, keeping nosuid/nodev/noexec."""
    mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | mount_flags_of(target))


def set_loopback_up() -> None:
    """Bring ``lo`` up in the current network namespace (SIOCSIFFLAGS)."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        res: Any = fcntl.ioctl(s.fileno(), siocgifflags, req)
        flags = struct.unpack("16sH22x", res)[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))




class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every architecture
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open container path ``path`` with every symlink resolved as if ``root_fd`` were /.

    openat2(RESOLVE_IN_ROOT) where the kernel has it (5.6+), else a component
    walk that does the same in user space."""
    rel = path.lstrip("/") or "."
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    lc = libc()
    fd = lc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(root_fd), ctypes.c_char_p(os.fsencode(rel)),
                    ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return int(fd)
    err = ctypes.get_errno()
    if err not in (errno.ENOSYS, errno.EPERM):
        raise OSError(err, os.strerror(err), path)
    from pybuild.builder.paths import resolve_in_root

    root = os.readlink(f"/proc/self/fd/{root_fd}")
    return os.open(resolve_in_root(root, path), flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def fd_path(fd: int) -> str:
    """A path naming what ``fd`` refers to, usable as a mount source or target."""
    return f"/proc/self/fd/{fd}"


__all__ = ["load_library", "open_in_root", "fd_path", "unshare", "mount", "umount2", "syncfs", "pivot_root",
           "sethostname",
           "prctl", "capset", "libc",
           "mount_flags_of", "bind_readonly", "set_nodev_recursive", "set_loopback_up"]
