"""Running pybuild as the unprivileged CI user ``pybuild-test`` (scripts/setup.sh makes it, with
/etc/subuid and /etc/subgid ranges), the way a developer without root runs it.

The tests run as root and drop to the user with ``runuser``; the user's HOME, XDG dirs and
store live in a fresh directory it owns under /tmp (pytest's own tmp dirs are root's 0700).
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
USER = "pybuild-test"


def need_rootless_user() -> pwd.struct_passwd:
    """Skip unless this runs as root and the CI user exists."""
    if os.geteuid() != 0:
        pytest.skip("needs root (to run pybuild as the unprivileged user pybuild-test)")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"user {USER} does not exist (scripts/setup.sh makes it)")
    for tool in ("runuser", "newuidmap", "newgidmap", "busybox"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")


@functools.lru_cache(maxsize=1)
def python_for_user() -> list[str]:
    """An interpreter the user may run with this checkout and its packages on the path: this
    one when the user can reach it, else the system's of the same version (a venv made from
    an interpreter under root's 0700 home)."""
    site = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), shutil.which(version, path="/usr/bin:/bin") or ""):
        if not candidate:
            continue
        probe = subprocess.run(["runuser", "-u", USER, "--", "env", f"PYTHONPATH={PROJECT}:{site}", candidate, "-c",
                                "import pybuild.cli, click, httpx"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [candidate]
    pytest.skip(f"no {version} that {USER} can run with {site} readable")


@dataclass
class RootlessUser:
    """pybuild as ``pybuild-test``: its HOME, XDG_RUNTIME_DIR and default store under ``base``."""

    base: Path
    user: str = USER

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def store(self) -> Path:
        return self.home / ".local" / "share" / "pybuild"

    def env(self) -> dict[str, str]:
        site = sysconfig.get_paths()["purelib"]
        return {"HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.base / "run"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                "PYTHONPATH": f"{PROJECT}:{site}", "LANG": "C.UTF-8", "USER": self.user}

    def argv(self, *args: str, as_user: str | None = None) -> list[str]:
        who = ["runuser", "-u", as_user or self.user, "--"]
        env = ["env", "-i", *(f"{k}={v}" for k, v in self.env().items())]
        return [*who, *env, *python_for_user(), "-m", "pybuild", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if check and proc.returncode != 0:
            raise AssertionError(f"pybuild {' '.join(args)} as {self.user} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def context(self, name: str, files: dict[str, str]) -> Path:
        """A build context the user owns."""
        ctx = self.base / name
        ctx.mkdir()
        for rel, text in files.items():
            (ctx / rel).write_text(text)
        chown_tree(ctx, self.user)
        return ctx

    def copy_in(self, src: Path, name: str) -> Path:
        dest = self.base / name
        shutil.copytree(src, dest, symlinks=True)
        chown_tree(dest, self.user)
        return dest


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for dirpath, _dirnames, filenames in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for f in filenames:
            os.lchown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)


def rootless_user() -> Iterator[RootlessUser]:
    """A fresh RootlessUser (for a fixture); its directory removed afterwards."""
    need_rootless_user()
    base = Path(tempfile.mkdtemp(prefix="pybuild-rootless-"))
    for d in ("home", "run"):
        (base / d).mkdir()
    os.chmod(base / "run", 0o700)
    chown_tree(base, USER)
    try:
        yield RootlessUser(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def busybox_base(user: RootlessUser) -> None:
    """``busybox`` in the user's store, from examples/Containerfiles/busybox and /bin/busybox."""
    ctx = user.base / "busybox-ctx"
    ctx.mkdir()
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    shutil.copy2(PROJECT / "examples" / "Containerfiles" / "busybox" / "Containerfile", ctx / "Containerfile")
    chown_tree(ctx, user.user)
    user.run("bud", "-q", "-t", "busybox", str(ctx))


def layer_entries(layout: Path) -> list[list[tuple[str, int, int, int, str, str, int]]]:
    """Each layer of the layout's one image as (name, mode, uid, gid, type, link, size), mtimes
    left out: what a root and a rootless build must agree on."""
    index = json.loads((layout / "index.json").read_text())

    def blob(digest: str) -> Path:
        return layout / "blobs" / "sha256" / digest.split(":", 1)[1]

    manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
    out = []
    for layer in manifest["layers"]:
        with tarfile.open(blob(layer["digest"])) as tar:
            out.append([(e.name, e.mode & 0o7777, e.uid, e.gid, e.type.decode(), e.linkname, e.size) for e in tar])
    return out


def host_mounts_under(path: Path) -> list[str]:
    """Lines of the machine's mount table (this root process's view) naming ``path``."""
    return [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in ln]


__all__ = ["USER", "RootlessUser", "busybox_base", "chown_tree", "host_mounts_under", "layer_entries",
           "need_rootless_user", "python_for_user", "rootless_user"]
