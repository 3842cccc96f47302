"""Store roots for the build and registry cases, and the busybox base image both tools build on.

Each tool gets its own roots under the case work directory (``stores/pybuild``,
``stores/buildah`` + ``stores/buildah-run``). They are wiped the first time a process asks
for them, so every ``python -m benchmarks`` starts from empty stores, then a busybox base
image is built into each from examples/Containerfiles/busybox with a context holding a
copy of /bin/busybox: the same recipe and inputs for both tools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from benchmarks.harness import CaseFailed, Context

BUSYBOX = Path("/bin/busybox")
# skopeo's and buildah's blob-info cache: it remembers which registry repositories hold a
# blob (so a push mounts instead of uploading) and compressed <-> uncompressed digests.
CONTAINERS_CACHE = Path("/var/lib/containers/cache")


def unmount_under(path: Path) -> None:
    """Unmount everything mounted below ``path`` (deepest first): leftovers of a killed run."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def wipe(path: Path) -> None:
    if path.exists():
        unmount_under(path)
        shutil.rmtree(path, ignore_errors=True)


def clear_blob_info_cache() -> None:
    if CONTAINERS_CACHE.is_dir():
        for entry in CONTAINERS_CACHE.iterdir():
            if entry.name.startswith("blob-info-cache"):
                entry.unlink(missing_ok=True)


class Stores:
    """Both tools' roots, with argv builders that carry the global flags."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "stores"
        self.pybuild_root = self.dir / "pybuild"
        self.buildah_root = self.dir / "buildah"
        self.buildah_runroot = self.dir / "buildah-run"
        self._ready = False

    def pybuild(self, *args: str, root: Path | None = None) -> list[str]:
        return ["pybuild", "--root", str(root or self.pybuild_root), *args]

    def buildah(self, *args: str, root: Path | None = None, runroot: Path | None = None) -> list[str]:
        return ["buildah", "--root", str(root or self.buildah_root), "--runroot",
                str(runroot or self.buildah_runroot), "--storage-driver", "overlay", *args]

    def bud_pybuild(self, tag: str, context: Path, *flags: str) -> list[str]:
        """pybuild with its defaults (its own isolation; layers cached)."""
        return self.pybuild("bud", *flags, "-t", tag, str(context))

    def bud_buildah(self, tag: str, context: Path, *flags: str) -> list[str]:
        """The peer configuration of the issue: overlay, chroot isolation, --layers."""
        return self.buildah("bud", "--isolation", "chroot", "--layers", *flags, "-t", tag, str(context))

    def ensure_base(self) -> None:
        """Once per process: empty both stores, then build the busybox base into each."""
        if self._ready:
            return
        self.reset_buildah(self.buildah_root, self.buildah_runroot)
        wipe(self.pybuild_root)
        ctx = self.dir / "busybox-context"
        ctx.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BUSYBOX, ctx / "busybox")
        os.chmod(ctx / "busybox", 0o755)
        recipe = Path(__file__).resolve().parent.parent / "examples/Containerfiles/busybox/Containerfile"
        shutil.copyfile(recipe, ctx / "Containerfile")
        run(self.bud_pybuild("busybox", ctx))
        run(self.bud_buildah("busybox", ctx))
        self._ready = True

    def reset_buildah(self, root: Path, runroot: Path) -> None:
        if root.exists():
            subprocess.run(self.buildah("rm", "--all", root=root, runroot=runroot), check=False,
                           capture_output=True)
        wipe(root)
        wipe(runroot)


def run(argv: list[str]) -> None:
    """Run a preparation command; fail loudly with its stderr tail."""
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise CaseFailed(f"`{' '.join(argv)}` exited {proc.returncode}: "
                           f"{proc.stderr[-2000:].decode(errors='replace')}")


@cache
def stores(work: Path) -> Stores:
    return Stores(work)


def for_context(ctx: Context) -> Stores:
    return stores(ctx.work)


@cache
def pybuild_isolation() -> str:
    """What `pybuild info` reports as DefaultIsolation (shown beside the figures)."""
    try:
        out = subprocess.run(["pybuild", "info"], check=True, capture_output=True).stdout
        return str(json.loads(out)["host"]["DefaultIsolation"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        return "unknown"


def isolation_note() -> str:
    return f"pybuild isolation: {pybuild_isolation()}; buildah: chroot"
