"""Cases rootless-hello-cold, rootless-hello-cached: the hello case built by the unprivileged
user pybuild-test (scripts/setup.sh makes it, with subordinate ids), pybuild vs buildah, each
run by that same user with its own store (both enter a user namespace through newuidmap).

pybuild runs from this checkout (``python -m pybuild`` with the project and its packages on
PYTHONPATH, through an interpreter the user may run); buildah as the build cases configure it
(``--storage-driver overlay bud --isolation chroot --layers``). Both stores, HOME and
XDG_RUNTIME_DIR live in a directory the user owns under /tmp, emptied once per process.
Absent (no cases) when not run as root or when the user does not exist.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import sysconfig
from functools import cache
from pathlib import Path

from benchmarks.cases.build import HELLO, write_if_changed
from benchmarks.harness import Case, CaseFailed, Context
from benchmarks.stores import BUSYBOX

USER = "pybuild-test"


@cache
def _python(project: Path) -> str | None:
    """An interpreter the user can run pybuild with: this one, else the system's of its version."""
    site = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), shutil.which(version, path="/usr/bin:/bin") or ""):
        if candidate and subprocess.run(["runuser", "-u", USER, "--", "env", f"PYTHONPATH={project}:{site}",
                                         candidate, "-c", "import pybuild.cli"], capture_output=True).returncode == 0:
            return candidate
    return None


class UserSide:
    """Commands run as the user, with its HOME and runtime dir under ``base``."""

    def __init__(self, base: Path, project: Path, python: str) -> None:
        self.base, self.project, self.python = base, project, python
        site = sysconfig.get_paths()["purelib"]
        self.env = {"HOME": str(base / "home"), "XDG_RUNTIME_DIR": str(base / "run"), "LANG": "C.UTF-8",
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{project}:{site}", "USER": USER}

    def argv(self, *args: str) -> list[str]:
        return ["runuser", "-u", USER, "--", "env", "-i", *(f"{k}={v}" for k, v in self.env.items()), *args]

    def pybuild(self, *args: str) -> list[str]:
        return self.argv(self.python, "-m", "pybuild", "--root", str(self.base / "pybuild"), *args)

    def buildah(self, *args: str) -> list[str]:
        return self.argv("buildah", "--root", str(self.base / "buildah"), "--runroot", str(self.base / "run" / "buildah"),
                         "--storage-driver", "overlay", *args)

    def bud_pybuild(self, context: Path, *flags: str) -> list[str]:
        return self.pybuild("bud", *flags, "-t", "hello", str(context))

    def bud_buildah(self, context: Path, *flags: str) -> list[str]:
        return self.buildah("bud", "--isolation", "chroot", "--layers", *flags, "-t", "hello", str(context))


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise CaseFailed(f"`{shlex.join(argv)}` exited {proc.returncode}: {proc.stderr[-2000:].decode(errors='replace')}")


@cache
def _prepared(side: UserSide) -> None:
    """Once per process: a fresh user dir, then the busybox base built into both stores."""
    pw = pwd.getpwnam(USER)
    if side.base.exists():
        subprocess.run(side.buildah("rm", "--all"), capture_output=True)
        subprocess.run(side.argv("buildah", "unshare", "rm", "-rf", str(side.base / "buildah")), capture_output=True)
        shutil.rmtree(side.base, ignore_errors=True)
    for d in ("home", "run", "busybox"):
        (side.base / d).mkdir(parents=True)
    os.chmod(side.base / "run", 0o700)
    shutil.copyfile(BUSYBOX, side.base / "busybox" / "busybox")
    os.chmod(side.base / "busybox" / "busybox", 0o755)
    shutil.copyfile(side.project / "examples/Containerfiles/busybox/Containerfile", side.base / "busybox" / "Containerfile")
    for dirpath, _dirs, files in os.walk(side.base):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
    _run(side.pybuild("bud", "-t", "busybox", str(side.base / "busybox")))
    _run(side.buildah("bud", "--isolation", "chroot", "--layers", "-t", "busybox", str(side.base / "busybox")))


def cases(ctx: Context) -> list[Case]:
    if os.geteuid() != 0:
        return []
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        return []
    python = _python(ctx.project)
    if python is None or not shutil.which("buildah"):
        return []
    side = UserSide(Path("/tmp") / f"pybuild-bench-rootless-{ctx.work.name}", ctx.project, python)
    context = side.base / "hello"

    def setup(cold: bool) -> None:
        _prepared(side)
        write_if_changed(context / "Containerfile", HELLO)
        write_if_changed(context / "hello.txt", "hello, world\n" * 4)
        os.chown(context, pw.pw_uid, pw.pw_gid)
        if not cold:
            _run(side.bud_pybuild(context))
            _run(side.bud_buildah(context))

    out = []
    for cold in (True, False):
        flags = ("--no-cache",) if cold else ()
        out.append(Case(f"rootless-hello-{'cold' if cold else 'cached'}", side.bud_pybuild(context, *flags),
                        side.bud_buildah(context, *flags), peer_name="buildah",
                        description=f"the hello case as the user {USER}, both tools rootless, "
                                    + ("--no-cache" if cold else "fully cached"),
                        notes=lambda: "pybuild: its default isolation in its user namespace; buildah: chroot",
                        setup=lambda cold=cold: setup(cold)))  # type: ignore[misc]
    return out
