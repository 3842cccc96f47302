"""Cases run20-private, run20-host: 20 small RUN steps, `pybuild bud` vs `buildah bud`, per network mode.

Both sides run the oci isolation (runc), ``--no-cache``: buildah's chroot isolation has no
private network, so the peer is ``buildah bud --isolation oci --network private|host``
(private: a netns per step wired by netavark, buildah's default as root). The per-step
cost of private networking is (private - host) / 20 for each tool, from the two cases
(``--smoke`` builds 4 steps: it checks the case runs).
"""

from __future__ import annotations

from benchmarks.cases.build import write_if_changed
from benchmarks.harness import Case, Context
from benchmarks.stores import for_context

STEPS = 20
SMOKE_STEPS = 4  # --smoke checks the case runs, not its figures: keep it short


def containerfile(steps: int) -> str:
    return "FROM busybox\n" + "".join(f"RUN echo step {i} > /s{i}\n" for i in range(steps))


def cases(ctx: Context) -> list[Case]:
    st = for_context(ctx)
    steps = SMOKE_STEPS if ctx.smoke else STEPS
    context = ctx.work / f"run{steps}"

    def setup() -> None:
        st.ensure_base()
        write_if_changed(context / "Containerfile", containerfile(steps))

    out = []
    for mode in ("private", "host"):
        flags = ("--isolation", "oci", "--network", mode, "--no-cache")
        out.append(Case(f"run20-{mode}", st.bud_pybuild("run20", context, *flags),
                        st.bud_buildah("run20", context, *flags), peer_name="buildah",
                        description=f"{steps} small RUN steps, --network {mode}, oci isolation, --no-cache",
                        notes=lambda: f"per-step private cost = (run20-private - run20-host) / {steps}", setup=setup))
    return out
