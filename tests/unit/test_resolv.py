"""A step's resolv.conf and hosts: what the host has, what the flags ask, loopback resolvers
replaced in a namespace of the step's own (pybuild.builder.sandbox.resolv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.sandbox import resolv
from pybuild.errors import ConfigError

HOST = "search corp.test\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"


def _proc_udp(tmp: Path, local: str) -> str:
    p = tmp / "udp"
    p.write_text("  sl  local_address rem_address   st\n"
                 f"   0: {local} 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1\n")
    return str(p)


def test_host_mode_keeps_the_hosts_file_as_is() -> None:
    assert resolv.resolv_conf("host", host_text=HOST) == HOST


def test_private_mode_drops_a_loopback_resolver_nothing_serves_on_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolv, "dns_listens_on", lambda gw: False)
    out = resolv.resolv_conf("private", gateway="10.89.231.1", host_text=HOST)
    assert out == "search corp.test\nnameserver 10.0.0.2\noptions edns0\n"


def test_private_mode_points_a_loopback_resolver_at_a_gateway_that_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolv, "dns_listens_on", lambda gw: gw == "10.89.231.1")
    out = resolv.resolv_conf("private", gateway="10.89.231.1", host_text=HOST)
    assert out.splitlines()[1:3] == ["nameserver 10.89.231.1", "nameserver 10.0.0.2"]


def test_slirp4netns_forwarder_stands_in_for_loopback_resolvers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolv, "dns_listens_on", lambda gw: True)  # a forwarder wins over the gateway
    host = "nameserver 127.0.0.53\nnameserver 127.0.0.1\nnameserver 10.0.0.2\n"
    out = resolv.resolv_conf("private", gateway="10.0.2.2", host_text=host, forwarder="10.0.2.3")
    assert out == "nameserver 10.0.2.3\nnameserver 10.0.0.2\n"  # once, where the first loopback stood


def test_dns_none_makes_no_file_and_stands_alone() -> None:
    assert resolv.resolv_conf("private", ["none"], host_text=HOST) is None
    assert resolv.check_dns(["none"]) == ["none"]
    with pytest.raises(ConfigError, match="none stands alone"):
        resolv.check_dns(["10.1.1.1", "none"])


def test_only_loopback_falls_back_to_systemd_resolveds_upstreams(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.write_text("nameserver 192.0.2.53\nnameserver 127.0.0.1\n")
    monkeypatch.setattr(resolv, "SYSTEMD_UPSTREAM", str(upstream))
    monkeypatch.setattr(resolv, "dns_listens_on", lambda gw: False)
    out = resolv.resolv_conf("ns:/x", host_text="nameserver 127.0.0.53\n")
    assert out == "nameserver 192.0.2.53\n"


def test_flags_replace_their_kind_and_none_is_empty() -> None:
    out = resolv.resolv_conf("host", ["10.9.8.7"], ["a.test"], ["ndots:2"], host_text=HOST)
    assert out == "nameserver 10.9.8.7\nsearch a.test\noptions ndots:2\n"
    assert resolv.resolv_conf("none", ["10.9.8.7"], host_text=HOST) == ""


def test_dns_listener_is_read_from_proc_net_udp(tmp_path: Path) -> None:
    assert resolv.dns_listens_on("10.89.231.1", _proc_udp(tmp_path, "01E7590A:0035"))
    assert resolv.dns_listens_on("10.89.231.1", _proc_udp(tmp_path, "00000000:0035"))
    assert not resolv.dns_listens_on("10.89.231.1", _proc_udp(tmp_path, "3500007F:0035"))  # 127.0.0.53
    assert not resolv.dns_listens_on("10.89.231.1", _proc_udp(tmp_path, "01E7590A:0036"))


def test_hosts_has_the_entries_host_gateway_and_the_steps_own_address() -> None:
    out = resolv.hosts_file(["db:10.1.2.3", "gw:host-gateway"], "abc123", "10.89.231.5", "10.89.231.1",
                            host_text="127.0.0.1 localhost\n")
    assert out == "127.0.0.1 localhost\n10.1.2.3\tdb\n10.89.231.1\tgw\n10.89.231.5\tabc123\n"
    with pytest.raises(ConfigError, match="invalid --add-host"):
        resolv.hosts_file(["nocolon"], "h", host_text="")
