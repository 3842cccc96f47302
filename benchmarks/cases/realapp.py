"""Real-app cases (issue 19): what a user builds every day, on a Debian 12 base.

- realapp-python: apt-get python3-venv, a venv, pip install from requirements.txt, the app;
- realapp-c: a multi-stage C build (gcc + make in a build stage, the binary copied out);
- realapp-npm: apt-get nodejs + npm, npm install from package.json, the app;
- realapp-aptcache: apt-get through cache mounts on /var/cache/apt and /var/lib/apt.

Each is timed cold (``--no-cache``; cache mounts survive it, in all three tools), fully cached,
and after one source file changed (new bytes before every run, so the steps from its COPY on
re-run). The base comes from ``debootstrap --variant=minbase bookworm`` (cached under
/var/tmp/pybuild-bench, or fresh-check's minbase when it is there), packed as a tar and ADDed
into each tool's store the same way. RUN steps reach deb.debian.org, PyPI and the npm registry as
a user's builds would, with host networking in all three tools (BuildKit's side always builds
with ``--network host``), so these cases are left out of ``--smoke`` (the smoke test is a test,
and tests never leave 127.0.0.0/8) and each is counted over at most 3 runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks import dockerd
from benchmarks.cases.build import write_if_changed
from benchmarks.harness import Case, CaseFailed, Context
from benchmarks.stores import for_context, isolation_note, run

CACHE = Path(os.environ.get("PYBUILD_BENCH_CACHE", "/var/tmp/pybuild-bench"))
FRESH_MINBASE = Path(os.environ.get("PYBUILD_FRESH_CACHE", "/var/tmp/pybuild-fresh")) / "minbase-bookworm"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE = "debian-base"
# This machine reaches the package registries through a TLS-inspecting proxy whose CA only the
# host trusts: the base carries the host's bundle for pip and node, as a user's build behind
# such a proxy must (apt uses plain http to deb.debian.org and signed indexes)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_CONTAINERFILE = """\
FROM scratch
ADD rootfs.tar /
COPY host-ca.crt /etc/ssl/host-ca.crt
ENV PIP_CERT=/etc/ssl/host-ca.crt NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca.crt
CMD ["bash"]
"""
RUNS = 3
APT = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"

PYTHON = f"""\
FROM {BASE}
RUN {APT} python3 python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv
WORKDIR /app
COPY requirements.txt .
RUN /venv/bin/pip install --no-cache-dir -r requirements.txt
COPY app.py .
RUN /venv/bin/python -m py_compile app.py
CMD ["/venv/bin/python", "/app/app.py"]
"""
PYTHON_APP = "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get('/')\ndef hello():\n    return 'hello'\n"

C = f"""\
FROM {BASE} AS build
RUN {APT} gcc libc6-dev make && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j2

FROM {BASE}
COPY --from=build /src/hello /usr/local/bin/hello
CMD ["hello"]
"""
C_MAKEFILE = "OBJS := $(patsubst %.c,%.o,$(wildcard *.c))\nhello: $(OBJS)\n\t$(CC) -O2 -o $@ $^\n%.o: %.c\n\t$(CC) -O2 -c $<\n"

NPM = f"""\
FROM {BASE}
RUN {APT} nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json .
RUN npm install --omit=dev --no-audit --no-fund
COPY index.js .
RUN node --check index.js
CMD ["node", "index.js"]
"""
NPM_PACKAGE = '{"name": "bench-app", "version": "1.0.0", "private": true,\n "dependencies": {"express": "4.19.2"}}\n'
NPM_APP = "const express = require('express');\nconst app = express();\napp.get('/', (q, r) => r.send('hello'));\n"

APTCACHE = f"""\
FROM {BASE}
RUN rm -f /etc/apt/apt.conf.d/docker-clean \\
 && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,target=/var/lib/apt,sharing=locked \\
    {APT} curl ca-certificates
COPY run.sh /run.sh
CMD ["sh", "/run.sh"]
"""


def base_tar() -> Path:
    """The minbase root as a tar (numeric owners, no device nodes): made once, then reused."""
    tar = CACHE / "debian-bookworm-minbase.tar"
    if tar.exists():
        return tar
    CACHE.mkdir(parents=True, exist_ok=True)
    root = FRESH_MINBASE
    if not root.is_dir():
        root = CACHE / "minbase-bookworm"
        if not root.is_dir():
            if not shutil.which("debootstrap"):
                raise CaseFailed("debootstrap is missing (apt-get install debootstrap)")
            partial = root.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            run(["debootstrap", "--variant=minbase", "bookworm", str(partial), MIRROR])
            partial.rename(root)
    partial_tar = tar.with_suffix(".partial")
    run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "--exclude=./dev/*", "--exclude=./proc/*",
         "--exclude=./sys/*", "-cf", str(partial_tar), "."])
    partial_tar.rename(tar)
    return tar


def cases(ctx: Context) -> list[Case]:
    if ctx.smoke:
        return []  # they reach package registries: not from a test
    st = for_context(ctx)
    work = ctx.work / "realapp"
    base_ctx = work / "base"
    bk = dockerd.instance() if ctx.buildkit else None
    made: set[str] = set()

    def ensure_base() -> None:
        if "base" in made:
            return
        st.ensure_base()
        tar = base_tar()
        base_ctx.mkdir(parents=True, exist_ok=True)
        target = base_ctx / "rootfs.tar"
        if not target.exists() or target.stat().st_size != tar.stat().st_size:
            shutil.copyfile(tar, target)
        write_if_changed(base_ctx / "host-ca.crt", HOST_CA.read_bytes())
        write_if_changed(base_ctx / "Containerfile", BASE_CONTAINERFILE)
        run(st.bud_pybuild(BASE, base_ctx))
        run(st.bud_buildah(BASE, base_ctx))
        if bk is not None:
            dockerd.daemon()  # started on first use
            run(bk.build(BASE, base_ctx))
        made.add("base")

    def app(name: str, containerfile: str, files: dict[str, str], changed: str, description: str) -> list[Case]:
        context = work / name
        counter = [0]

        def prepare() -> None:
            write_if_changed(context / "Containerfile", containerfile)
            for rel, text in files.items():
                write_if_changed(context / rel, text)

        comment = "#" if changed.endswith((".py", ".sh")) else "//"

        def change_one() -> None:
            counter[0] += 1
            # a new size each time too (docker's context sync judges a file by size and mtime)
            (context / changed).write_text(f"{files[changed]}{comment} changed {counter[0]}{'+' * (counter[0] % 64)}\n")

        out = []
        for kind in ("cold", "cached", "changed"):
            flags = ("--network", "host") + (("--no-cache",) if kind == "cold" else ())
            bk_flags = ("--no-cache",) if kind == "cold" else ()

            def setup(kind: str = kind) -> None:
                ensure_base()
                prepare()
                if kind != "cold":  # prime every cache: cached and changed cases time rebuilds
                    run(st.bud_pybuild(name, context, "--network", "host"))
                    run(st.bud_buildah(name, context, "--network", "host"))
                    if bk is not None:
                        run(bk.build(name, context))

            target = 0.7 if kind == "cold" else 0.8 if kind == "cached" else 1.0
            c = Case(f"realapp-{name}-{kind}", st.bud_pybuild(name, context, *flags),
                     st.bud_buildah(name, context, *flags), peer_name="buildah",
                     description=f"{description}, " + {"cold": "--no-cache", "cached": "fully cached",
                                                       "changed": f"{changed} changed before every run"}[kind],
                     target=None, notes=isolation_note, setup=setup,
                     buildkit=bk.build(name, context, *bk_flags) if bk is not None else None,
                     buildkit_target=target if bk is not None else None, max_runs=RUNS)
            if kind == "changed":
                c.before_each = change_one
            out.append(c)
        return out

    c_files = {f"part{i}.c": f"int part{i}(int x) {{ return x * {i + 2} + {i}; }}\n" for i in range(8)}
    c_files["main.c"] = ("#include <stdio.h>\n" + "".join(f"int part{i}(int);\n" for i in range(8))
                         + "int main(void) { int s = 0;\n" + "".join(f"  s += part{i}(s);\n" for i in range(8))
                         + '  printf("%d\\n", s); return 0; }\n')
    c_files["Makefile"] = C_MAKEFILE
    return [
        *app("python", PYTHON, {"requirements.txt": "flask==3.0.3\n", "app.py": PYTHON_APP}, "app.py",
             "Debian base; apt-get python3-venv, pip install flask into a venv, the app"),
        *app("c", C, c_files, "part3.c", "Debian base; multi-stage C build (gcc, make), the binary copied out"),
        *app("npm", NPM, {"package.json": NPM_PACKAGE, "index.js": NPM_APP}, "index.js",
             "Debian base; apt-get nodejs npm, npm install express, the app"),
        *app("aptcache", APTCACHE, {"run.sh": "curl --version\n"}, "run.sh",
             "Debian base; apt-get curl through cache mounts on /var/cache/apt and /var/lib/apt"),
    ]


__all__ = ["cases", "base_tar"]
