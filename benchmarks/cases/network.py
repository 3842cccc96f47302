"""Cases run20-private, run20-host: 20 small RUN steps, `pybuild bud` vs `buildah bud`, per network mode.

Both sides run the oci isolation (runc), ``--no-cache``: buildah's chroot isolation has no
private network, so the peer is ``buildah bud --isolation oci --network private|host``
(private: a netns per step wired by netavark, buildah's default as root). The per-step
cost of private networking is (private - host) / 20 for each tool, from the two cases.
"""

from __future__ import annotations

from benchmarks.cases.build import write_if_changed
from benchmarks.harness import Case, Context
from benchmarks.stores import for_context

STEPS = 20
RUN20 = "FROM busybox\n" + "".join(f"RUN echo step {i} > /s{i}\n" for i in range(STEPS))


def cases(ctx: Context) -> list[Case]:
    st = for_context(ctx)
    context = ctx.work / "run20"

    def setup() -> None:
        st.ensure_base()
        write_if_changed(context / "Containerfile", RUN20)

    out = []
    for mode in ("private", "host"):
        flags = ("--isolation", "oci", "--network", mode, "--no-cache")
        out.append(Case(f"run20-{mode}", st.bud_pybuild("run20", context, *flags),
                        st.bud_buildah("run20", context, *flags), peer_name="buildah",
                        description=f"{STEPS} small RUN steps, --network {mode}, oci isolation, --no-cache",
                        notes=lambda: "per-step private cost = (run20-private - run20-host) / 20", setup=setup))
    return out
