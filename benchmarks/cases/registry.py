"""Cases push, pull, pull-oci: an image of ~100 MB compressed to and from a local docker-registry.

The image (built once per process with pybuild): the busybox base plus four RUN layers of
/dev/urandom bytes (incompressible, so ~100 MB compressed), exported to an OCI layout for
skopeo. The registry is /usr/bin/docker-registry on 127.0.0.1 over plain http, started
here with a config in benchmarks/work/.../registry and stopped when the process exits.

- push: `pybuild push` from its store vs `skopeo copy` from the OCI layout, each to a new
  repository; before every run the registry's storage is emptied and skopeo's blob-info
  cache (/var/lib/containers/cache) removed, so both upload every blob (nothing may mount).
- pull: `pybuild pull` into an empty store vs `buildah pull` into an empty store.
- pull-oci: the same `pybuild pull` vs `skopeo copy` to a fresh OCI layout (no store).
"""

from __future__ import annotations

import atexit
import shutil
from pathlib import Path

from benchmarks.harness import Case, Context
from benchmarks.stores import clear_blob_info_cache, for_context, run, wipe
from tests.registry_fixtures import Registry

PAYLOAD = """\
FROM busybox
RUN head -c {size} /dev/urandom > /payload1.bin
RUN head -c {size} /dev/urandom > /payload2.bin
RUN head -c {size} /dev/urandom > /payload3.bin
RUN head -c {size} /dev/urandom > /payload4.bin
"""


class LocalRegistry(Registry):
    """The tests' docker-registry (127.0.0.1:PORT, plain http, no auth, no blob-descriptor
    cache), with a way to forget everything between runs."""

    def __init__(self, workdir: Path) -> None:
        wipe(workdir)
        super().__init__(workdir)
        self.data = workdir / "data"

    def empty(self) -> None:
        """Forget every repository and blob (the registry keeps no cache of them)."""
        shutil.rmtree(self.data, ignore_errors=True)


def cases(ctx: Context) -> list[Case]:
    st = for_context(ctx)
    small = ctx.quick or ctx.smoke
    layer = (1 << 20) if small else (24 << 20)  # four layers: ~4 MB or ~96 MB (+ busybox's ~1 MB)
    work = ctx.work / "registry"
    layout = work / "payload-oci"
    state: dict[str, object] = {"registry": None, "payload": False, "source": False, "n": 0}

    def registry() -> LocalRegistry:
        reg = state["registry"]
        if reg is None:
            reg = LocalRegistry(work / "server")
            atexit.register(reg.stop)
            state["registry"] = reg
        assert isinstance(reg, LocalRegistry)
        return reg

    def payload() -> None:
        """Build the image with pybuild and export it to an OCI layout (once per process)."""
        st.ensure_base()
        if state["payload"]:
            return
        context = work / "payload-context"
        context.mkdir(parents=True, exist_ok=True)
        (context / "Containerfile").write_text(PAYLOAD.format(size=layer))
        run(st.bud_pybuild("payload", context))
        wipe(layout)
        run(st.pybuild("push", "-q", "payload", f"oci:{layout}:payload"))
        state["payload"] = True

    def source() -> str:
        """The image in the registry as repository `payload` (pushed by skopeo, untimed)."""
        payload()
        reg = registry()
        if not state["source"]:
            clear_blob_info_cache()
            run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:payload",
                 f"docker://{reg.host}/payload:latest"])
            state["source"] = True
        return f"docker://{reg.host}/payload:latest"

    def new_repo(tool: str) -> str:
        state["n"] = int(state["n"]) + 1  # type: ignore[call-overload]
        return f"docker://{registry().host}/{tool}-{state['n']}:latest"

    # push -------------------------------------------------------------------------------------
    def push_setup() -> None:
        payload()
        registry()

    def push_before() -> None:
        registry().empty()  # also drops `payload`: pull's setup pushes it again
        state["source"] = False
        clear_blob_info_cache()

    out = [Case(
        "push",
        lambda: st.pybuild("push", "-q", "payload", new_repo("pybuild")),
        lambda: ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:payload", new_repo("skopeo")],
        peer_name="skopeo copy", target=1.0, setup=push_setup, before_each=push_before,
        description=f"push of a ~{(4 * layer + (1 << 20)) >> 20} MB (compressed) image, 5 layers, to a new "
                    "repository of an empty local registry; pybuild from its store, skopeo from an OCI layout",
    )]

    # pull -------------------------------------------------------------------------------------
    pull_pybuild = work / "pull-pybuild"
    pull_buildah, pull_buildah_run = work / "pull-buildah", work / "pull-buildah-run"
    pull_oci = work / "pull-oci"

    def pull_before() -> None:
        wipe(pull_pybuild)
        st.reset_buildah(pull_buildah, pull_buildah_run)
        wipe(pull_oci)
        clear_blob_info_cache()

    def pull_setup() -> None:
        source()

    def pull_teardown() -> None:
        pull_before()

    def pybuild_pull() -> list[str]:
        return st.pybuild("pull", "-q", source(), root=pull_pybuild)

    out.append(Case(
        "pull", pybuild_pull,
        lambda: st.buildah("pull", "-q", "--tls-verify=false", source(), root=pull_buildah,
                           runroot=pull_buildah_run),
        peer_name="buildah pull", target=0.8, setup=pull_setup, before_each=pull_before, teardown=pull_teardown,
        description="pull of the same image into an empty store",
    ))
    out.append(Case(
        "pull-oci", pybuild_pull,
        lambda: ["skopeo", "copy", "-q", "--src-tls-verify=false", source(), f"oci:{pull_oci}:payload"],
        peer_name="skopeo copy", setup=pull_setup, before_each=pull_before, teardown=pull_teardown,
        description="pybuild pull into an empty store vs skopeo's copy to a new OCI layout (no store)",
    ))
    return out
