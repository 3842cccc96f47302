"""Case fresh-runner: a CI runner with an empty store builds with the cache another runner
exported to a registry, after one source file changed (issue 15).

Runner A (untimed, in setup) builds with ``--cache-to`` (pybuild: BuildKit's
``type=registry,ref=...,mode=max``; buildah: ``--cache-to REPO``, a tag per step); then
``src.txt`` changes. Each timed run is runner B: an empty store (wiped before every run),
``--cache-from`` the same registry, the changed context. Both sides pull the FROM image
from that registry too, and must fetch the cached layers the final image holds; only the
steps after the changed COPY run.

Every request goes through a counting TCP relay on 127.0.0.1 in front of the registry,
so the bytes each side pushed (runner A's export) and pulled (one untimed runner-B build in
setup) are measured on the wire and shown beside the figures.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import threading

from benchmarks.harness import Case, Context
from benchmarks.stores import clear_blob_info_cache, for_context, run, wipe
from tests.registry_fixtures import Registry

RECIPE = """\
FROM {host}/base/busybox:1
COPY deps.txt /deps.txt
RUN head -c {size} /dev/urandom > /deps.bin && sha256sum /deps.bin > /deps.sum
RUN mkdir /gen && for i in $(seq 1 200); do echo $i > /gen/$i; done
COPY src.txt /src.txt
RUN cat /src.txt /deps.sum > /app
CMD ["cat", "/app"]
"""

# the builder stage's big layer is cached remotely but never needed by the final image
MULTISTAGE = """\
FROM {host}/base/busybox:1 AS deps
COPY deps.txt /deps.txt
RUN head -c {size} /dev/urandom > /deps.bin && sha256sum /deps.bin > /deps.sum
FROM {host}/base/busybox:1
COPY --from=deps /deps.sum /deps.sum
COPY src.txt /src.txt
RUN cat /src.txt /deps.sum > /app
"""


class CountingProxy:
    """A TCP relay 127.0.0.1:PORT -> 127.0.0.1:UPSTREAM counting bytes each way."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.sent = 0  # client -> registry (pushed)
        self.received = 0  # registry -> client (pulled)
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.5)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def reset(self) -> tuple[int, int]:
        with self._lock:
            got = (self.sent, self.received)
            self.sent = self.received = 0
        return got

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                client.close()
                continue
            up.settimeout(120)
            client.settimeout(120)
            threading.Thread(target=self._pipe, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        with contextlib.suppress(OSError):
            while True:  # ends at EOF, an error or the 120 s idle timeout
                data = src.recv(1 << 16)
                if not data:
                    break
                with self._lock:
                    if outbound:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cases(ctx: Context) -> list[Case]:
    size = (1 << 20) if (ctx.quick or ctx.smoke) else (16 << 20)
    return [
        _case(ctx, "fresh-runner", RECIPE, f"busybox + a {size >> 20} MB deps layer + 200 files; 2 of 5 steps re-run"),
        _case(ctx, "fresh-runner-multistage", MULTISTAGE,
              f"a deps stage making a {size >> 20} MB layer the final stage copies one small file from; "
              "2 of 6 steps re-run"),
    ]


def _case(ctx: Context, name: str, recipe: str, what: str) -> Case:
    st = for_context(ctx)
    size = (1 << 20) if (ctx.quick or ctx.smoke) else (16 << 20)
    work = ctx.work / name
    context = work / "context"
    roots = {name: work / name for name in ("pyb-a", "pyb-b", "bh-a", "bh-a-run", "bh-b", "bh-b-run")}
    state: dict[str, object] = {}

    def host() -> str:
        return str(state["host"])

    def pybuild_b() -> list[str]:
        return st.pybuild("bud", "--cache-from", f"type=registry,ref={host()}/cache/pybuild:main", "-t", "app",
                          str(context), root=roots["pyb-b"])

    def buildah_b() -> list[str]:
        return st.buildah("bud", "--isolation", "chroot", "--layers", "--tls-verify=false", "--cache-from",
                          f"{host()}/cache/buildah", "-t", "app", str(context), root=roots["bh-b"],
                          runroot=roots["bh-b-run"])

    def before_each() -> None:
        wipe(roots["pyb-b"])
        st.reset_buildah(roots["bh-b"], roots["bh-b-run"])
        clear_blob_info_cache()

    def setup() -> None:
        st.ensure_base()
        wipe(work)
        reg = Registry(work / "registry")
        proxy = CountingProxy(reg.port)
        atexit.register(reg.stop)
        atexit.register(proxy.stop)
        state["host"] = f"127.0.0.1:{proxy.port}"
        run(st.pybuild("push", "-q", "busybox", f"docker://{host()}/base/busybox:1"))
        context.mkdir(parents=True)
        (context / "Containerfile").write_text(recipe.format(host=host(), size=size))
        (context / "deps.txt").write_text("requests==2.31\n")
        (context / "src.txt").write_text("version 1\n")
        proxy.reset()
        run(st.pybuild("bud", "--cache-to", f"type=registry,ref={host()}/cache/pybuild:main,mode=max", "-t", "app",
                       str(context), root=roots["pyb-a"]))
        state["pyb-push"] = proxy.reset()
        run(st.buildah("bud", "--isolation", "chroot", "--layers", "--tls-verify=false", "--cache-to",
                       f"{host()}/cache/buildah", "-t", "app", str(context), root=roots["bh-a"],
                       runroot=roots["bh-a-run"]))
        state["bh-push"] = proxy.reset()
        (context / "src.txt").write_text("version 2: one source file changed\n")
        before_each()
        run(pybuild_b())
        state["pyb-pull"] = proxy.reset()
        before_each()
        run(buildah_b())
        state["bh-pull"] = proxy.reset()

    def notes() -> str:
        pp, bp = state["pyb-push"], state["bh-push"]
        pl, bl = state["pyb-pull"], state["bh-pull"]
        assert isinstance(pp, tuple) and isinstance(bp, tuple) and isinstance(pl, tuple) and isinstance(bl, tuple)
        return (f"runner A's export pushed: pybuild {_mb(pp[0])}, buildah {_mb(bp[0])}; runner B pulled: "
                f"pybuild {_mb(pl[1])}, buildah {_mb(bl[1])} (bytes on the wire, one untimed run each)")

    def teardown() -> None:
        wipe(roots["pyb-a"])
        wipe(roots["pyb-b"])
        st.reset_buildah(roots["bh-a"], roots["bh-a-run"])
        st.reset_buildah(roots["bh-b"], roots["bh-b-run"])

    return Case(
        name, pybuild_b, buildah_b, peer_name="buildah", target=1.0,
        description=f"empty store, --cache-from a local registry that runner A filled, one source file changed "
                    f"({what})",
        setup=setup, before_each=before_each, teardown=teardown, notes=notes,
    )

