"""Network mode spellings and the default's choice (pybuild.builder.sandbox.network), no root needed."""

from __future__ import annotations

import os

import pytest

from pybuild.builder.sandbox import network
from pybuild.errors import ConfigError


@pytest.mark.parametrize("mode", ["private", "host", "none", "default", "ns:/run/netns/x", "slirp4netns",
                                  "slirp4netns:allow_host_loopback=true"])
def test_buildahs_spellings_are_accepted(mode: str) -> None:
    assert network.check_mode(mode) == mode


@pytest.mark.parametrize(("mode", "message"), [("bridge", "--network bridge: unknown network mode"),
                                               ("slirp4netns:mtu=9000", "unknown slirp4netns option 'mtu=9000'"),
                                               ("pasta", "pasta is not supported"),
                                               ("ns:", "unknown network mode"), ("pvt", "unknown network mode")])
def test_other_modes_are_refused_in_one_line(mode: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        network.check_mode(mode)


def test_default_is_host_when_netavark_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # as root outside a user namespace, where netavark is what private networking needs
    monkeypatch.setattr(network.os, "geteuid", lambda: 0)
    monkeypatch.setattr(network, "in_user_namespace", lambda: False)
    monkeypatch.setenv("PYBUILD_NETAVARK", "")
    assert "netavark is not installed" in (network.unavailable() or "")
    assert network.effective_mode("default") == "host" and network.effective_mode(None) == "host"
    assert network.effective_mode("none") == "none"
    assert network.describe_default()["DefaultNetwork"] == "host"


def test_a_plain_user_outside_a_user_namespace_gets_host_and_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # netavark or not: a plain user can make no network namespace without pybuild unshare
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(network, "in_user_namespace", lambda: False)
    assert network.unavailable() == "not root and not in a user namespace (pybuild unshare)"
    assert network.effective_mode("default") == "host" and network.effective_mode("ns:/x") == "ns:/x"
    assert network.describe_default() == {
        "DefaultNetwork": "host",
        "DefaultNetworkReason": "private networking cannot be set up: not root and not in a user "
                                "namespace (pybuild unshare)"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_default_is_private_with_netavark(monkeypatch: pytest.MonkeyPatch) -> None:
    if network.netavark_path() is None:
        pytest.skip("netavark is not installed (apt-get install netavark)")
    assert network.effective_mode("default") == "private"


def test_subnet_stays_clear_of_podmans_defaults() -> None:
    import ipaddress

    for podman in ("10.88.0.0/16", "10.89.0.0/24"):
        assert not network.SUBNET.overlaps(ipaddress.ip_network(podman))
