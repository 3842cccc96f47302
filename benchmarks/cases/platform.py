"""Cases arm64-cold and multistage-2platforms: builds for arm64 on this amd64 machine, RUN steps
under qemu-user-static, pybuild vs buildah (issue 16's benchmark).

arm64-cold builds FROM scratch (Debian's static arm64 busybox copied in, then RUN steps that
install its applets, write 50 files and record `uname -m`), ``--no-cache``: emulated RUN plus
commit. multistage-2platforms is the multistage case for two platforms at once, ``--platform
linux/amd64,linux/arm64 --manifest``, each platform's busybox picked by ``$TARGETARCH``. The harness registers qemu-aarch64 in binfmt_misc for
the case when no handler is registered (with the F flag, as chroots need) and removes it at
the end (tests/binfmt.py); without root or qemu-user-static the case is not listed.
"""

from __future__ import annotations

import contextlib
import os
import shutil

from benchmarks.cases.build import write_if_changed
from benchmarks.harness import Case, CaseFailed, Context
from benchmarks.stores import for_context

CONTAINERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir /out && i=0; while [ $i -lt {files} ]; do echo "file $i" > /out/f$i; i=$((i+1)); done
RUN uname -m > /arch && ls /out | wc -l > /count
"""

TWO_PLATFORMS = """\
FROM scratch AS base
ARG TARGETARCH
COPY busybox-$TARGETARCH /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]

FROM base AS one
RUN mkdir /out && i=0; while [ $i -lt 200 ]; do echo "one $i" > /out/a$i.txt; i=$((i+1)); done

FROM base AS two
RUN mkdir /out && i=0; while [ $i -lt 200 ]; do echo "two $i" > /out/b$i.txt; i=$((i+1)); done

FROM base
COPY --from=one /out /one
COPY --from=two /out /two
RUN ls /one /two | wc -l > /count && uname -m > /arch
"""


def cases(ctx: Context) -> list[Case]:
    from tests import binfmt

    if os.geteuid() != 0 or not os.path.exists(binfmt.QEMU_AARCH64):
        return []
    st = for_context(ctx)
    context, multi = ctx.work / "arm64", ctx.work / "multistage-2platforms"

    def write_contexts() -> None:
        busybox = binfmt.arm64_busybox()
        for where, name in ((context, "busybox"), (multi, "busybox-arm64")):
            where.mkdir(parents=True, exist_ok=True)
            if not (where / name).exists():
                shutil.copy2(busybox, where / name)
        if not (multi / "busybox-amd64").exists():
            shutil.copy2("/bin/busybox", multi / "busybox-amd64")
        write_if_changed(context / "Containerfile", CONTAINERFILE.format(files=10 if ctx.smoke else 50))
        write_if_changed(multi / "Containerfile", TWO_PLATFORMS)

    def emulated(name: str, pybuild: list[str], buildah: list[str], description: str) -> Case:
        """A case that registers qemu-aarch64 for its runs and removes it after (each its own)."""
        registered = contextlib.ExitStack()

        def setup() -> None:
            st.ensure_base()
            try:
                write_contexts()
                registered.enter_context(binfmt.aarch64_binfmt())
            except binfmt.Unavailable as e:
                raise CaseFailed(f"{name}: {e}") from None

        return Case(name, pybuild, buildah, peer_name="buildah", setup=setup, teardown=registered.close,
                    description=description)

    flags = ("--platform", "linux/arm64", "--no-cache")
    both = ("--platform", "linux/amd64,linux/arm64", "--no-cache", "--manifest", "multi2")
    return [emulated("arm64-cold", st.bud_pybuild("arm64", context, *flags), st.bud_buildah("arm64", context, *flags),
                     "FROM scratch + arm64 busybox, 3 RUN steps under qemu-user-static, --no-cache"),
            emulated("multistage-2platforms", st.pybuild("bud", *both, str(multi)),
                     st.buildah("bud", "--isolation", "chroot", "--layers", *both, str(multi)),
                     "the multistage case for linux/amd64 and linux/arm64 into a manifest list, --no-cache")]
