"""Case arm64-cold: a cold `bud --platform linux/arm64` on this amd64 machine, RUN steps under
qemu-user-static, pybuild vs buildah (issue 16's benchmark).

Both build the same context FROM scratch (Debian's static arm64 busybox copied in, then RUN
steps that install its applets, write 50 files and record `uname -m`), ``--no-cache``, so
the figure is emulated RUN plus commit. The harness registers qemu-aarch64 in binfmt_misc for
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


def cases(ctx: Context) -> list[Case]:
    from tests import binfmt

    if os.geteuid() != 0 or not os.path.exists(binfmt.QEMU_AARCH64):
        return []
    st = for_context(ctx)
    context = ctx.work / "arm64"
    registered = contextlib.ExitStack()

    def setup() -> None:
        st.ensure_base()
        try:
            busybox = binfmt.arm64_busybox()
            registered.enter_context(binfmt.aarch64_binfmt())
        except binfmt.Unavailable as e:
            raise CaseFailed(f"arm64-cold: {e}") from None
        context.mkdir(parents=True, exist_ok=True)
        if not (context / "busybox").exists():
            shutil.copy2(busybox, context / "busybox")
        write_if_changed(context / "Containerfile", CONTAINERFILE.format(files=10 if ctx.smoke else 50))

    flags = ("--platform", "linux/arm64", "--no-cache")
    return [Case("arm64-cold", st.bud_pybuild("arm64", context, *flags), st.bud_buildah("arm64", context, *flags),
                 peer_name="buildah", setup=setup, teardown=registered.close,
                 description="FROM scratch + arm64 busybox, 3 RUN steps under qemu-user-static, --no-cache")]
