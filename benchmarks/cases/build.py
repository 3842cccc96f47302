"""Cases hello, multistage, copymany, biglayer: `pybuild bud` vs `buildah bud` on the same contexts.

A third side, BuildKit (`docker build` against the harness's own dockerd,
benchmarks/dockerd.py), runs the same Containerfile and context when docker.io is installed;
its base is pybuild's busybox, exported as a docker-archive and `docker load`ed. Its targets
are issue 19's: every case <= 1.0, fully cached <= 0.8, heavy cases <= 0.7.

The peer runs as the issue configures it: ``buildah --storage-driver overlay bud --isolation
chroot --layers``; pybuild runs with its defaults (its isolation is printed beside the
figures). Both build FROM the busybox base each built into its own store (benchmarks/stores.py).

- cold cases pass ``--no-cache`` to both; cached cases build once in setup (so the cache is
  warm even in --smoke mode, which has no warm-up) and then time fully cached rebuilds;
- copymany-changed rewrites one file of the copied tree before every run (new bytes each
  time, so both tools redo the COPY and the RUN after it, whatever they cached before).

Contexts are written deterministically (fixed seeds); the copied tree is regenerated only
when its spec changes.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import dockerd
from benchmarks.cases.layer import generate
from benchmarks.harness import Case, Context
from benchmarks.stores import for_context, isolation_note, run

HELLO = """\
FROM busybox
ARG GREETING=hello
ENV APP_HOME=/app GREETING=${GREETING}
WORKDIR /app
COPY hello.txt /app/hello.txt
RUN echo "$GREETING from RUN" > /app/run.txt && cat /app/hello.txt >> /app/run.txt
LABEL org.example.case=hello org.example.version=1
EXPOSE 8080/tcp
USER app
CMD ["cat", "/app/run.txt"]
"""

MULTISTAGE = """\
FROM busybox AS one
RUN mkdir /out && i=0; while [ $i -lt 200 ]; do echo "one $i" > /out/a$i.txt; i=$((i+1)); done

FROM busybox AS two
RUN mkdir /out && i=0; while [ $i -lt 200 ]; do echo "two $i" > /out/b$i.txt; i=$((i+1)); done

FROM busybox
COPY --from=one /out /one
COPY --from=two /out /two
RUN ls /one /two | wc -l > /count
"""

COPYMANY = """\
FROM busybox
COPY tree /data
RUN du -s /data > /du.txt
"""

BIGLAYER = """\
FROM busybox
RUN mkdir /big && i=0; while [ $i -lt {files} ]; do \
head -c {size} /dev/urandom > /big/f$i; i=$((i+1)); done
"""


def write_if_changed(path: Path, data: str | bytes) -> None:
    """Write only when the content differs, so a context's mtimes stay put between runs."""
    raw = data.encode() if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def cases(ctx: Context) -> list[Case]:
    st = for_context(ctx)
    small = ctx.quick or ctx.smoke
    out: list[Case] = []

    def pair(name: str, tag: str, context: Path, *, cold: bool, target: float, description: str,
             prepare: object, bk_target: float = 1.0) -> Case:
        flags = ("--no-cache",) if cold else ()
        bk = dockerd.instance() if ctx.buildkit else None

        def setup() -> None:
            st.ensure_base()
            prepare()  # type: ignore[operator]
            if bk is not None:
                dockerd.daemon().load_from_pybuild("busybox", st.pybuild())
            if not cold:  # prime every cache: a cached case times rebuilds only
                run(st.bud_pybuild(tag, context))
                run(st.bud_buildah(tag, context))
                if bk is not None:
                    run(bk.build(tag, context))

        return Case(name, st.bud_pybuild(tag, context, *flags), st.bud_buildah(tag, context, *flags),
                    peer_name="buildah", description=description, target=target, notes=isolation_note,
                    setup=setup, buildkit=bk.build(tag, context, *flags) if bk is not None else None,
                    buildkit_target=bk_target if bk is not None else None)

    # hello ---------------------------------------------------------------------------------
    hello = ctx.work / "hello"

    def prep_hello() -> None:
        write_if_changed(hello / "Containerfile", HELLO)
        write_if_changed(hello / "hello.txt", "hello, world\n" * 4)

    for cold, target in ((True, 0.8), (False, 0.8)):
        out.append(pair(f"hello-{'cold' if cold else 'cached'}", "hello", hello, cold=cold, target=target,
                        bk_target=1.0 if cold else 0.8,
                        description="FROM busybox; ARG ENV WORKDIR COPY RUN LABEL EXPOSE USER CMD, "
                                    + ("--no-cache" if cold else "fully cached"), prepare=prep_hello))

    # multistage ----------------------------------------------------------------------------
    multi = ctx.work / "multistage"

    def prep_multi() -> None:
        write_if_changed(multi / "Containerfile", MULTISTAGE)

    for cold, target in ((True, 0.7), (False, 0.8)):
        out.append(pair(f"multistage-{'cold' if cold else 'cached'}", "multistage", multi, cold=cold,
                        target=target, prepare=prep_multi, bk_target=1.0 if cold else 0.8,
                        description="two independent stages writing 200 files each, a final stage "
                                    "copying both + RUN, " + ("--no-cache" if cold else "fully cached")))

    # copymany ------------------------------------------------------------------------------
    files = 400 if small else 20_000
    many = ctx.work / f"copymany-{files}"
    changed = many / "tree" / "d00" / "s00" / "f000.txt"
    size = f"{files} files of 200 B-20 KB, ~{files // 100} MB"

    def prep_many() -> None:
        generate(many, files)
        write_if_changed(many / "Containerfile", COPYMANY)

    for kind, target in (("cold", 0.5), ("cached", 0.2)):
        out.append(pair(f"copymany-{kind}", "copymany", many, cold=kind == "cold", target=target,
                        prepare=prep_many, bk_target=0.7 if kind == "cold" else 0.8, description=f"COPY of {size}, then one RUN, "
                        + ("--no-cache" if kind == "cold" else "fully cached")))
    counter = [0]

    def change_one() -> None:
        counter[0] += 1
        # a new size each time too: a tool that judges a file by its size and mtime (docker's
        # context sync) must not see an unchanged file and answer from its cache
        changed.write_bytes(f"changed {counter[0]}\n".encode() * 100 + b"+" * (counter[0] % 64))

    c = pair("copymany-changed", "copymany", many, cold=False, target=0.5, prepare=prep_many, bk_target=1.0,
             description=f"COPY of {size}, then one RUN, one file changed before every run")
    c.before_each = change_one
    out.append(c)

    # biglayer ------------------------------------------------------------------------------
    count, each = (8, 1 << 20) if small else (64, 4 << 20)
    big = ctx.work / f"biglayer-{count}"

    def prep_big() -> None:
        write_if_changed(big / "Containerfile", BIGLAYER.format(files=count, size=each))

    out.append(pair("biglayer-cold", "biglayer", big, cold=True, target=0.7, prepare=prep_big, bk_target=0.7,
                    description=f"one RUN writing {count * each >> 20} MB of /dev/urandom in {count} files, "
                                "--no-cache"))
    return out
