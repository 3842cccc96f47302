"""Compiled seccomp filters kept between builds, so a RUN step does not pay libseccomp again.

Compiling containers-common's profile costs ~15-20 ms of CPU (some 400 rules through ctypes),
once per build process and per capability set: more than the rest of a RUN step under
chroot isolation (issue 19). The BPF depends only on the resolved document, the libseccomp
version and the machine, so it is kept under the key of those three, machine-wide, in
``/run/pybuild/seccomp`` (rootless: the user's runtime directory), a directory only its
owner may write (anything else is not used: the filter confines steps).

A file is the program followed by the sha256 of the key and the program: a torn or foreign
file does not match and is compiled again; files are written whole (a temporary name, then
rename), so a killed build leaves at most a temporary file nobody reads.
"""

from __future__ import annotations

import hashlib
import os
import stat

_TRAILER = 32  # sha256 of key + program
ROOT_DIR = "/run/pybuild/seccomp"


def cache_dir() -> str | None:
    """The directory, created 0700 if needed; None when it cannot be trusted or made."""
    from pybuild.rootless import is_rootless, runtime_dir

    path = os.path.join(runtime_dir(), "seccomp") if is_rootless() else ROOT_DIR
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return path


def key_of(spec_json: str, libseccomp_version: tuple[int, int, int], machine: str) -> str:
    """The name of a program: what it is compiled from, and by which libseccomp, for which machine."""
    text = f"1\n{'.'.join(map(str, libseccomp_version))}\n{machine}\n{spec_json}"
    return hashlib.sha256(text.encode()).hexdigest()


def load(directory: str, key: str) -> bytes | None:
    """The program kept under ``key``, or None (absent, torn, or not what the key names)."""
    try:
        fd = os.open(os.path.join(directory, key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > 1 << 20:
            return None
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    program, trailer = data[:-_TRAILER], data[-_TRAILER:]
    if not program or len(program) % 8 or hashlib.sha256(key.encode() + program).digest() != trailer:
        return None
    return program


def store(directory: str, key: str, program: bytes) -> None:
    """Keep ``program`` under ``key`` (whole or not at all; a failure only costs a compile later)."""
    from pybuild.errors import StoreError
    from pybuild.fsutil import atomic_write

    try:
        atomic_write(os.path.join(directory, key), program + hashlib.sha256(key.encode() + program).digest(),
                     0o600, durable=False)
    except (OSError, StoreError):  # (a full disk is said as a StoreError)
        pass


__all__ = ["cache_dir", "key_of", "load", "store", "ROOT_DIR"]
