"""Private networks parked idle across builds, as root with real netavark: the next build
claims one instead of setting one up (netavark is run through a wrapper that logs its verbs),
a killed claimer's is recovered, prune and the bound, a broken idle one is replaced.

Traffic goes only to a server on this test run's own bridge gateway (IP_FREEBIND, as in
test_network_private), never to another address.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers_helpers import clone_store, kill_when, pybuild
from http_fixtures import serve_served
from net_helpers import busybox_store_for_private, get_command, leftovers, records

from pybuild.builder.sandbox import netns as netns_file
from pybuild.builder.sandbox import network

pytestmark = [pytest.mark.root, pytest.mark.integration]

GW = str(network.GATEWAY)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_store_for_private(tmp_path_factory.mktemp("idle"))


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Iterator[Path]:
    network.release_idle()  # each test starts with no idle network, and leaves none behind
    yield clone_store(template, tmp_path / "store")
    assert leftovers() == []


@pytest.fixture
def gateway_server() -> Iterator[int]:
    with serve_served(GW, freebind=True) as port:
        yield port


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """pybuild's environment with netavark behind a wrapper that appends each verb to ``verbs``."""
    real = network.netavark_path()
    assert real is not None
    wrapper = tmp_path / "netavark"
    wrapper.write_text(f'#!/bin/sh\necho "$3" >> {tmp_path}/verbs\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "PYBUILD_NETAVARK": str(wrapper)}


def _verbs(tmp_path: Path) -> list[str]:
    log = tmp_path / "verbs"
    return log.read_text().split() if log.exists() else []


def _bud(root: Path, tmp: Path, text: str, env: dict[str, str], *flags: str) -> None:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    pybuild(root, "bud", "--no-cache", "-t", "out", *flags, str(ctx), env=env)


def _file(root: Path, path: str) -> str:
    ctr = pybuild(root, "from", "out").stdout.strip()
    return pybuild(root, "run", "--network", "none", ctr, "--", "cat", path).stdout


def _fetching(port: int) -> str:
    return f"FROM busybox\nRUN ip -o -4 addr show eth0 > /addr && {get_command(GW, port, '/got')}\n"


def test_the_second_build_claims_the_firsts_network_and_still_reaches_the_gateway(
        root: Path, tmp_path: Path, env: dict[str, str], gateway_server: int) -> None:
    _bud(root, tmp_path, _fetching(gateway_server), env)
    assert _verbs(tmp_path) == ["setup"]  # set up, then parked: no teardown
    assert [r.get("idle") for r in records().values()] == [True]
    first = _file(root, "/addr")
    _bud(root, tmp_path, _fetching(gateway_server), env)
    assert _verbs(tmp_path) == ["setup"]  # the second build ran netavark not at all
    assert _file(root, "/got").endswith("\nserved\n")
    assert _file(root, "/addr") == first and [r.get("idle") for r in records().values()] == [True]


def test_a_net_admin_build_neither_claims_nor_parks(root: Path, tmp_path: Path, env: dict[str, str]) -> None:
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    idle = set(records())
    _bud(root, tmp_path, "FROM busybox\nRUN ip link set eth0 mtu 1280\n", env, "--cap-add", "NET_ADMIN")
    assert _verbs(tmp_path) == ["setup", "setup", "teardown"] and set(records()) == idle


def test_a_killed_claimers_network_is_recovered(root: Path, tmp_path: Path, env: dict[str, str]) -> None:
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    (ip,) = records()
    (tmp_path / "ctx" / "Containerfile").write_text("FROM busybox\nRUN sleep 120\n")
    proc = subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-t", "x",
                             str(tmp_path / "ctx")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    kill_when(proc, lambda: records().get(ip, {}).get("pid") == proc.pid, "the idle network", settle=0.5)
    assert _verbs(tmp_path) == ["setup"]  # claimed, not set up
    pybuild(root, "images", env=env)  # recovery: the claimer is dead
    assert records() == {} and _verbs(tmp_path) == ["setup", "teardown"]
    assert leftovers(release_idle=False) == []


def test_prune_tears_idle_networks_down(root: Path, tmp_path: Path, env: dict[str, str]) -> None:
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    pybuild(root, "images", env=env)  # recovery leaves an idle network alone
    assert [r.get("idle") for r in records().values()] == [True]
    pybuild(root, "prune", env=env)
    assert leftovers(release_idle=False) == []


def test_concurrent_builds_park_no_more_than_the_bound(template: Path, root: Path, tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    n = network.IDLE_MAX + 2
    procs = []
    for i in range(n):
        store = clone_store(template, tmp_path / f"store{i}")
        ctx = tmp_path / f"ctx{i}"
        ctx.mkdir()
        (ctx / "Containerfile").write_text(f"FROM busybox\nRUN sleep 8 && echo {i} > /i\n")
        procs.append(subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(store), "bud", "-t", "x",
                                       str(ctx)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
    set_ups = _verbs(tmp_path).count("setup")
    assert set_ups > network.IDLE_MAX  # the steps overlapped: more networks than the bound
    idle = [r for r in records().values() if r.get("idle")]
    assert len(idle) == min(network.IDLE_MAX, set_ups) and len(records()) == len(idle)
    assert _verbs(tmp_path).count("teardown") == set_ups - len(idle)


def test_an_idle_network_whose_namespace_is_gone_is_replaced(root: Path, tmp_path: Path, env: dict[str, str],
                                                             gateway_server: int) -> None:
    """As after a reboot with a state dir outside /run: the record is there, its namespace is not."""
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    (ip,) = records()
    netns_file.remove(network.STATE_DIR / "netns" / ip)
    (network.STATE_DIR / "netns" / ip).touch()
    _bud(root, tmp_path, _fetching(gateway_server), env)
    assert _verbs(tmp_path) == ["setup", "teardown", "setup"]  # discarded, then a new one
    assert _file(root, "/got").endswith("\nserved\n")


def test_an_idle_network_whose_bridge_is_gone_is_replaced(root: Path, tmp_path: Path, env: dict[str, str],
                                                          gateway_server: int) -> None:
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    subprocess.run(["ip", "link", "del", network.BRIDGE], check=True, timeout=30)
    _bud(root, tmp_path, _fetching(gateway_server), env)
    assert _verbs(tmp_path) == ["setup", "teardown", "setup"]  # discarded, then a new one (and a new bridge)
    assert _file(root, "/got").endswith("\nserved\n")


def test_an_idle_network_someone_entered_is_not_claimed(root: Path, tmp_path: Path, env: dict[str, str]) -> None:
    _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
    (ip,) = records()
    intruder = subprocess.Popen(["nsenter", f"--net={network.STATE_DIR / 'netns' / ip}", "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while not network._occupied(network.STATE_DIR / "netns" / ip) and time.monotonic() < deadline:
            time.sleep(0.05)
        _bud(root, tmp_path, "FROM busybox\nRUN true\n", env)
        assert _verbs(tmp_path) == ["setup", "teardown", "setup"]
    finally:
        intruder.kill()
        intruder.wait(timeout=30)


def test_a_process_still_in_the_namespace_is_seen(tmp_path: Path) -> None:
    ns = tmp_path / "netns"
    netns_file.make(ns, "test")
    try:
        assert not network._occupied(ns)
        proc = subprocess.Popen(["nsenter", f"--net={ns}", "sleep", "30"])
        try:
            deadline = time.monotonic() + 10
            while not network._occupied(ns) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert network._occupied(ns)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        assert not network._occupied(ns)
    finally:
        netns_file.remove(ns)
