"""The build's pool of private networks: reused step after step, one per step running at once,
all given up at the end (parked idle for later builds or torn down), idle ones claimed first;
the set-up itself is netavark's, tested in test_network_private and test_network_idle."""

from __future__ import annotations

import ipaddress
import json
import os
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

    def park(setup: network.Setup) -> bool:  # parking refused: torn down, as without the machine-wide pool
        network._tear_down(setup)
        return False

    monkeypatch.setattr(network, "_set_up", set_up)
    monkeypatch.setattr(network, "_tear_down", tear_down)
    monkeypatch.setattr(network, "_park", park)
    monkeypatch.setattr(network, "_claim", lambda: None)
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


def test_an_idle_network_is_claimed_before_one_is_set_up_and_parked_at_the_end(
        made: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    idle = [network.Setup("/run/ns/10.89.231.9", "10.89.231.9")]
    parked: list[str] = []
    monkeypatch.setattr(network, "_claim", lambda: idle.pop() if idle else None)
    monkeypatch.setattr(network, "_park", lambda setup: parked.append(setup.address) or True)
    monkeypatch.setattr(network, "in_user_namespace", lambda: False)
    pool = network.Pool()
    with pool.lease() as a, pool.lease() as b:  # the first claims the idle one, the second sets one up
        assert a.address == "10.89.231.9" and b.address != a.address
    assert (pool.claimed, pool.set_ups) == (1, 1)
    pool.close()
    assert sorted(parked) == sorted([a.address, b.address]) and made["down"] == []


def test_no_claim_when_parking_is_off(made: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "_claim", lambda: pytest.fail("claimed with PYBUILD_NET_IDLE=0"))
    monkeypatch.setattr(network, "in_user_namespace", lambda: False)
    monkeypatch.setenv("PYBUILD_NET_IDLE", "0")
    pool = network.Pool()
    with pool.lease():
        pass
    assert pool.set_ups == 1


def test_a_step_that_could_change_its_namespace_is_not_reusable() -> None:
    assert network.reusable(["CAP_CHOWN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"])
    assert not network.reusable(["CAP_CHOWN", "CAP_NET_ADMIN"])
    assert not network.reusable(["CAP_SYS_ADMIN"])


def test_recover_leaves_idle_networks_and_tears_down_a_dead_claimers(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "STATE_DIR", tmp_path)
    (tmp_path / "setups").mkdir()
    torn: list[str] = []
    monkeypatch.setattr(network, "_teardown", lambda ip, netns, record: (torn.append(ip), record.unlink()))
    dead = os.fork()
    if dead == 0:  # pragma: no cover - the child only exits
        os._exit(0)
    os.waitpid(dead, 0)
    records = {"10.90.1.2": {"idle": True, "ip": "10.90.1.2", "netns": "x", "bridge": 7},
               "10.90.1.3": {"pid": dead, "start": None, "ip": "10.90.1.3", "netns": "y"},
               "10.90.1.4": {"pid": os.getpid(), "start": None, "ip": "10.90.1.4", "netns": "z"}}
    for ip, info in records.items():
        (tmp_path / "setups" / f"{ip}.json").write_text(json.dumps(info))
    assert network.recover() == ["10.90.1.3"] and torn == ["10.90.1.3"]
    assert sorted(p.stem for p in (tmp_path / "setups").glob("*.json")) == ["10.90.1.2", "10.90.1.4"]
    monkeypatch.setattr(network, "_teardown", lambda ip, netns, record: (torn.append(ip), record.unlink()))
    assert network.release_idle() == ["10.90.1.2"]
    assert [p.stem for p in (tmp_path / "setups").glob("*.json")] == ["10.90.1.4"]


def test_a_new_set_up_first_frees_what_killed_builds_of_any_store_left(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # opening a store recovers only its own dead owners; the addresses are machine-wide
    monkeypatch.setattr(network, "STATE_DIR", tmp_path)
    monkeypatch.setattr(network, "unavailable", lambda: None)
    monkeypatch.setattr(network, "in_user_namespace", lambda: False)
    monkeypatch.setattr(network.netns_file, "make", lambda path, what: None)
    monkeypatch.setattr(network, "_netavark", lambda verb, netns, ip: None)
    torn: list[str] = []
    monkeypatch.setattr(network, "_teardown", lambda ip, netns, record: (torn.append(ip), record.unlink()))
    (tmp_path / "setups").mkdir()
    dead = os.fork()
    if dead == 0:  # pragma: no cover - the child only exits
        os._exit(0)
    os.waitpid(dead, 0)
    first = str(next(h for h in network.SUBNET.hosts() if h != network.GATEWAY))
    (tmp_path / "setups" / f"{first}.json").write_text(json.dumps({"pid": dead, "start": None, "ip": first,
                                                                    "netns": "x"}))
    setup = network._set_up("private")
    assert torn == [first] and setup.address == first  # the killed build's address, freed and reused


def test_recover_removes_a_record_a_crash_cut_short_and_leaves_a_fresh_unreadable_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # records are written unsynced: after a machine crash one may be empty; what it named
    # (a namespace, a veth) died with the boot, and its address is free again
    monkeypatch.setattr(network, "STATE_DIR", tmp_path)
    (tmp_path / "setups").mkdir()
    (tmp_path / "netns").mkdir()
    monkeypatch.setattr(network, "_teardown", lambda ip, netns, record: pytest.fail("nothing to tear down"))
    cut = tmp_path / "setups" / "10.90.1.5.json"
    cut.write_bytes(b"")
    (tmp_path / "netns" / "10.90.1.5").touch()  # a plain file now: its mount went with the boot
    before_boot = network._boot_time() - 60
    os.utime(cut, (before_boot, before_boot))
    fresh = tmp_path / "setups" / "10.90.1.6.json"
    fresh.write_bytes(b"{")  # this boot's: not judged
    assert network.recover() == []
    assert not cut.exists() and not (tmp_path / "netns" / "10.90.1.5").exists() and fresh.exists()
