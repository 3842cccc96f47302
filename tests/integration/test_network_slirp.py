"""RUN under slirp4netns (podman's --network slirp4netns; rootless pybuild's private network),
run here as root: the step's own tap0, the host's loopback only when allowed, nothing left
by a killed build.

Traffic goes only to a server this test starts on 127.0.0.1, reached through slirp4netns's
host-loopback address 10.0.2.2 (allow_host_loopback=true); never to any other address.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from containers_helpers import busybox_store, clone_store, kill_when, pybuild
from http_fixtures import slirp_fetch

from pybuild.builder.sandbox import network, slirp

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    if slirp.path() is None:
        pytest.skip("slirp4netns is not installed (apt-get install slirp4netns)")
    return busybox_store(tmp_path_factory.mktemp("slirp"))


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


def _bud(root: Path, tmp: Path, text: str, *flags: str) -> None:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    pybuild(root, "bud", "-t", "out", *flags, str(ctx))


def _file(root: Path, path: str) -> str:
    ctr = pybuild(root, "from", "out").stdout.strip()
    return pybuild(root, "run", "--network", "none", ctr, "--", "cat", path).stdout


def _slirps() -> list[str]:
    """slirp4netns processes working for this test run's state dir, and its leftovers."""
    procs = subprocess.run(["pgrep", "-af", "slirp4netns"], capture_output=True, text=True).stdout.splitlines()
    found = [p for p in procs if str(network.STATE_DIR) in p]
    base = network.STATE_DIR / "slirp"
    found += [str(p) for p in base.iterdir()] if base.is_dir() else []
    found += [ln for ln in Path("/proc/self/mounts").read_text().splitlines() if str(base) in ln]
    return found


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_step_sees_its_own_tap0_and_the_host_loopback_only_when_allowed(root: Path, tmp_path: Path, isolation: str,
                                                                        loopback_server: int) -> None:
    text = ("FROM busybox\nRUN ls /sys/class/net > /links && ip -o -4 addr show tap0 > /addr && "
            f"{slirp_fetch(loopback_server, '/got')}\n")
    _bud(root, tmp_path, text, "--isolation", isolation, "--network", "slirp4netns")
    assert _file(root, "/links").split() == ["lo", "tap0"]
    assert f"inet {slirp.ADDRESS}/" in _file(root, "/addr")
    assert _file(root, "/got") == "unreachable\n"  # podman's default: the host's loopback is closed
    _bud(root, tmp_path, text, "--isolation", isolation, "--network", "slirp4netns:allow_host_loopback=true")
    assert _file(root, "/got").endswith("\nserved\n")
    assert _slirps() == []


def test_steps_of_a_build_share_one_slirp4netns(root: Path, tmp_path: Path) -> None:
    text = ("FROM busybox\nRUN cat /sys/class/net/tap0/address > /a\nRUN cat /sys/class/net/tap0/address > /b\n"
            "RUN --network=none ls /sys/class/net > /none\n")
    _bud(root, tmp_path, text, "--network", "slirp4netns")
    assert _file(root, "/a") == _file(root, "/b")  # one namespace, one tap0, for both steps
    assert _file(root, "/none").split() == ["lo"]
    assert _slirps() == []


def test_from_and_run_with_slirp4netns(root: Path, loopback_server: int) -> None:
    ctr = pybuild(root, "from", "--network", "slirp4netns:allow_host_loopback=true", "busybox").stdout.strip()
    out = pybuild(root, "run", ctr, "--", "sh", "-c", slirp_fetch(loopback_server, "/got") + "; cat /got").stdout
    assert out.endswith("\nserved\n")
    hosts = pybuild(root, "run", "--add-host", "gw:host-gateway", ctr, "--", "cat", "/etc/hosts").stdout
    assert f"{slirp.GATEWAY}\tgw" in hosts and f"{slirp.ADDRESS}\t" in hosts
    assert _slirps() == []


def test_killed_build_leaves_no_slirp4netns(root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN sleep 120\n")
    proc = subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "--network", "slirp4netns",
                             "-t", "x", str(ctx)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    kill_when(proc, lambda: any("slirp4netns" in p and str(network.STATE_DIR) in p for p in _slirps()),
              "its slirp4netns", settle=0.5)
    deadline = time.monotonic() + 10  # slirp4netns exits once its exit pipe's writer is gone
    while any("slirp4netns" in p and str(network.STATE_DIR) in p for p in _slirps()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p for p in _slirps() if "slirp4netns " in p)
    pybuild(root, "images")  # the next command removes the namespace file and its record
    assert _slirps() == []


def test_bad_slirp4netns_options_are_one_line(root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN true\n")
    proc = pybuild(root, "bud", "--network", "slirp4netns:port_handler=rootlesskit", str(ctx), check=False)
    assert proc.returncode != 0 and "unknown slirp4netns option 'port_handler=rootlesskit'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    env = {**os.environ, "PYBUILD_SLIRP4NETNS": ""}
    proc = pybuild(root, "bud", "--network", "slirp4netns", str(ctx), check=False, env=env)
    assert proc.returncode != 0 and "slirp4netns is not installed" in proc.stderr and "Traceback" not in proc.stderr
    assert shutil.which("slirp4netns")  # (the refusal above came from the variable, not the machine)
