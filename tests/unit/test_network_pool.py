"""The build's pool of private networks: reused step after step, one per step running at once,
all torn down at the end (the set-up itself is netavark's, tested in test_network_private)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pybuild.builder.sandbox import network
from pybuild.errors import SandboxError


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    log: dict[str, list[str]] = {"up": [], "down": []}

    def set_up(mode: str = "private") -> network.Setup:
        ip = f"10.89.231.{len(log['up']) + 2}"
        log["up"].append(ip)
        return network.Setup(f"/run/ns/{ip}", ip)

    def tear_down(setup: network.Setup) -> None:
        log["down"].append(setup.address)

    monkeypatch.setattr(network, "_set_up", set_up)
    monkeypatch.setattr(network, "_tear_down", tear_down)
    return log


def test_steps_one_after_another_share_one_network(made: dict[str, list[str]]) -> None:
    pool = network.Pool()
    seen = []
    for _ in range(5):
        with network.joined("private", pool) as (net, netns, setup):
            assert net == "ns" and setup is not None and netns == setup.netns
            seen.append(setup.address)
    assert len(set(seen)) == 1 and pool.set_ups == 1 and made["down"] == []
    pool.close()
    assert made["down"] == seen[:1]


def test_steps_at_once_each_hold_their_own(made: dict[str, list[str]]) -> None:
    pool = network.Pool()
    with pool.lease() as a, pool.lease() as b:
        assert a.address != b.address
    with pool.lease() as c:
        assert c.address in (a.address, b.address)
    pool.close()
    assert sorted(made["down"]) == sorted([a.address, b.address])


def test_without_a_pool_a_step_has_its_own(made: dict[str, list[str]]) -> None:
    with network.joined("private") as (_net, _ns, setup):
        assert setup is not None and made["down"] == []
    assert made["down"] == [setup.address]


def test_close_tears_down_every_network_and_reports_a_failure(made: dict[str, list[str]],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pool = network.Pool()
    with pool.lease(), pool.lease():
        pass
    calls = []

    def failing(setup: network.Setup) -> None:
        calls.append(setup.address)
        raise SandboxError("private network: netavark teardown: gone")

    monkeypatch.setattr(network, "_tear_down", failing)
    with pytest.raises(SandboxError):
        pool.close()
    assert len(calls) == 2  # the second is torn down although the first failed


def test_each_state_dir_has_its_own_bridge_and_subnet() -> None:
    assert network._network_slot(network.DEFAULT_STATE_DIR) == 0
    slots = {network._network_slot(Path(f"/run/pybuild/net-tests-{i}")) for i in range(40)}
    assert slots <= set(range(1, 251)) and len(slots) > 30
    assert network._network_slot(Path("/run/x")) == network._network_slot(Path("/run/x"))
    # the tests run with a state dir of their own (tests/conftest.py): not the machine's bridge
    assert network.STATE_DIR != network.DEFAULT_STATE_DIR and network.BRIDGE != "pybuild0"
    assert network.SUBNET.subnet_of(ipaddress.ip_network("10.90.0.0/16"))
