"""The command path imports only what it uses (issue 19: the fixed cost of every command).

A fully cached local `bud` loads no registry, compression, crypto, thread-pool, process or
ctypes module, nor the checks of flags it was not given (-v, -o, --attest, --cache-from), nor
what only a step that runs or a copy between transports needs (the sandbox's RunSpec,
capabilities, passwd reader and resolv.conf writer; oci.transport; multiplatform); `pybuild
images` loads no builder of images at all; `--version` loads no builder at all; importing what
`bud` imports compiles no pybuild regex (they compile on first use). Checked with `python -X
importtime`, the names of what a run really loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.bud_helpers import context, make_store

PROJECT = Path(__file__).resolve().parents[2]
NOT_ON_A_CACHED_LOCAL_BUILD = ("httpx", "h11", "ssl", "zstandard", "cryptography", "pybuild.oci.registry",
                               "pybuild.oci.compress", "concurrent.futures", "subprocess", "ctypes",
                               "pybuild.builder.sandbox.seccomp", "csv", "difflib",
                               # the remote cache (issue 15): only a build given --cache-from/--cache-to
                               "pybuild.builder.cache_import", "pybuild.builder.cache_export",
                               "pybuild.builder.cache_remote", "pybuild.builder.cache_format",
                               "pybuild.builder.cache_spec",
                               # checks of flags the build was not given (-v, -o, --attest, --dns)
                               "pybuild.builder.workflow", "pybuild.builder.outputs", "pybuild.builder.attest",
                               "shlex",
                               # what a RUN that runs needs, not a cached one (issue 19)
                               "pybuild.builder.sandbox.spec", "pybuild.builder.sandbox.caps",
                               "pybuild.builder.sandbox.users", "pybuild.builder.sandbox.resolv",
                               "pybuild.builder.sandbox.chroot", "pybuild.builder.sandbox.oci",
                               # copies between transports; several platforms
                               "pybuild.oci.transport", "pybuild.builder.multiplatform")
# `pybuild images` reads the store's records: it builds, parses and copies nothing
NOT_IN_IMAGES = (*NOT_ON_A_CACHED_LOCAL_BUILD, "pybuild.builder.executor", "pybuild.builder.containerfile",
                 "pybuild.builder.copier", "pybuild.builder.steps", "pybuild.builder.run_step",
                 "pybuild.builder.commit", "pybuild.builder.build_request", "sqlite3")


def imported(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pybuild", *args], cwd=PROJECT,
                          env=dict(os.environ, PYTHONPATH=str(PROJECT)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[2].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


@pytest.mark.root
def test_a_fully_cached_local_build_imports_no_registry_compression_crypto_or_process_module(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    ctx = context(tmp_path, "FROM busybox AS one\nRUN echo one > /one\n"  # two stages: run side by side
                  "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nCOPY --from=one /one /one\nENV X=1\n",
                  {"a.txt": "a\n"})
    store.bud(ctx, "-t", "cached")
    modules = imported("--root", str(store.root), "bud", "-q", "-t", "cached", str(ctx))
    assert "pybuild.builder.executor" in modules  # it did build
    assert [m for p in NOT_ON_A_CACHED_LOCAL_BUILD for m in loaded(modules, p)] == []


@pytest.mark.root
def test_images_imports_no_builder_parser_copier_or_sandbox_run_module(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    modules = imported("--root", str(store.root), "images")
    assert "pybuild.builder.store" in modules  # it did read the store
    assert [m for p in NOT_IN_IMAGES for m in loaded(modules, p)] == []


def test_version_loads_no_builder_or_registry_module() -> None:
    modules = imported("--version")
    assert loaded(modules, "pybuild.builder") == [] and loaded(modules, "pybuild.oci") == []


def test_importing_the_build_path_compiles_no_pybuild_regex() -> None:
    code = """
import re, sys
compiled = []
real = re._compile
def spy(pattern, flags):
    caller = sys._getframe(2).f_globals.get("__name__", "")
    if caller.startswith("pybuild"):
        compiled.append((caller, pattern))
    return real(pattern, flags)
re._compile = spy
import pybuild.cli, pybuild.cli.bud, pybuild.builder.executor, pybuild.builder.containerfile
import pybuild.builder.steps, pybuild.builder.copy_step, pybuild.builder.run_step, pybuild.oci.reference
import pybuild.builder.containerfile.check
print(compiled)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=dict(os.environ, PYTHONPATH=str(PROJECT)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
