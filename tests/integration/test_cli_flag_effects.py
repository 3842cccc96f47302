"""Flags buildah users type, end to end: each has its effect on a real build, run or prune.

(Parsing and refusals: tests/unit/test_cli_flags.py; here what the flags do.)
One busybox store per module; each test works on its own copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from containers_helpers import busybox_store, clone_store, pybuild

from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, namespaces, chown)")
    return busybox_store(tmp_path_factory.mktemp("cli-flags"))


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


def _context(tmp: Path, text: str) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return ctx


def _logging_runtime(tmp: Path) -> tuple[Path, Path]:
    """A runtime that records each command line it gets, then is runc."""
    runc = need_tool("runc")
    log = tmp / "runtime.log"
    wrapper = tmp / "logging-runc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {runc} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def _steps_run(log: Path) -> int:
    return sum(" run --bundle " in f" {line}" for line in log.read_text().splitlines()) if log.exists() else 0


def test_bare_layers_then_no_cache_builds(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo built > /stamp\n")
    pybuild(root, "bud", "--layers", "--no-cache", "-t", "x", str(ctx))
    ctr = pybuild(root, "from", "x").stdout.strip()
    assert pybuild(root, "run", ctr, "--", "cat", "/stamp").stdout == "built\n"


def test_run_steps_use_the_runtime_given(root: Path, tmp_path: Path) -> None:
    wrapper, log = _logging_runtime(tmp_path)
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "run", ctr, "--", "true")
    assert _steps_run(log) == 0  # runc itself, not the wrapper, by default
    out = pybuild(root, "run", "--runtime", str(wrapper), ctr, "--", "echo", "via wrapper")
    assert out.stdout == "via wrapper\n" and _steps_run(log) == 1


def test_bud_steps_use_the_runtime_given(root: Path, tmp_path: Path) -> None:
    wrapper, log = _logging_runtime(tmp_path)
    ctx = _context(tmp_path, "FROM busybox\nRUN echo one > /1\nRUN echo two > /2\n")
    pybuild(root, "bud", "--no-cache", "--runtime", str(wrapper), "-t", "rt", str(ctx))
    assert _steps_run(log) == 2
    pybuild(root, "bud", "--no-cache", "-t", "rt", str(ctx))
    assert _steps_run(log) == 2


def test_rm_and_force_rm_leave_no_container(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN exit 3\n")
    proc = pybuild(root, "bud", "--rm", "--force-rm=true", "-t", "fails", str(ctx), check=False)
    assert proc.returncode == 3
    assert json.loads(pybuild(root, "containers", "--all", "--json").stdout) == []


def test_buildah_layers_variable_is_the_layers_default(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo 1 > /1\nRUN echo 2 > /2\n")
    env = {**os.environ, "BUILDAH_LAYERS": "false"}
    pybuild(root, "bud", "-t", "one", str(ctx), env=env)
    base = len(json.loads(pybuild(root, "inspect", "busybox").stdout)["OCIv1"]["rootfs"]["diff_ids"])
    layers = json.loads(pybuild(root, "inspect", "one").stdout)["OCIv1"]["rootfs"]["diff_ids"]
    assert len(layers) == base + 1  # --layers=false: one new layer for the stage, not one per RUN


def test_prune_force_removes_the_containers_of_pruned_images(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "prune", "--all")
    assert [i["names"] for i in json.loads(pybuild(root, "images", "--json").stdout)] == [
        ["localhost/busybox:latest"]]  # in use: kept
    pybuild(root, "prune", "--all", "--force")
    assert json.loads(pybuild(root, "images", "--json").stdout) == []
    assert json.loads(pybuild(root, "containers", "--json").stdout) == []
    assert pybuild(root, "rm", ctr, check=False).returncode != 0


def test_from_cidfile_holds_the_container_id(root: Path, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    name = pybuild(root, "from", "--cidfile", str(cidfile), "busybox").stdout.strip()
    ids = {c["containername"]: c["id"] for c in json.loads(pybuild(root, "containers", "--json").stdout)}
    assert cidfile.read_text() == ids[name]


@pytest.mark.parametrize("flags, arch", [([], None), (["--arch", "arm64"], "arm64"),
                                         (["--platform", "linux/arm64"], "arm64"),
                                         (["--os", "linux", "--arch", "amd64"], "amd64")])
def test_pull_picks_the_platform_asked(root: Path, tmp_path: Path, flags: list[str], arch: str | None) -> None:
    from transport_helpers import make_multiarch, new_layout

    from pybuild.oci.platform_host import host_platform

    make_multiarch(new_layout(tmp_path / "layout"), "multi")
    image_id = pybuild(root, "pull", "-q", *flags, f"oci:{tmp_path / 'layout'}:multi").stdout.strip()
    config = json.loads(pybuild(root, "inspect", "--type", "image", image_id).stdout)["OCIv1"]
    assert config["architecture"] == (arch or host_platform().architecture)
