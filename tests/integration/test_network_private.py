"""RUN networking end to end, as root: private (netavark bridge), none, host, the entitlement,
the fallback, the cache key, and a killed build's clean-up.

Traffic goes only to servers these tests start: on the bridge gateway (bound with
IP_FREEBIND before the bridge exists, never on another host address) or on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers_helpers import clone_store, kill_when, pybuild
from http_fixtures import serve_served
from net_helpers import busybox_store_for_private, records
from net_helpers import get_command as _get
from net_helpers import leftovers as _leftovers

from pybuild.builder.sandbox import network

pytestmark = [pytest.mark.root, pytest.mark.integration]

GW = str(network.GATEWAY)
PREFIX = str(network.SUBNET.network_address).rsplit(".", 1)[0] + "."  # 10.89.231.


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_store_for_private(tmp_path_factory.mktemp("net"))


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


@pytest.fixture
def gateway_server() -> Iterator[int]:
    with serve_served(GW, freebind=True) as port:
        yield port


@pytest.fixture
def loopback_server() -> Iterator[int]:
    with serve_served("127.0.0.1") as port:
        yield port


def _bud(root: Path, tmp: Path, text: str, *flags: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return pybuild(root, "bud", "-t", "out", *flags, str(ctx), check=check)


def _file(root: Path, path: str) -> str:
    ctr = pybuild(root, "from", "out").stdout.strip()
    return pybuild(root, "run", "--network", "none", ctr, "--", "cat", path).stdout


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_private_step_sees_its_own_eth0_and_reaches_the_gateway(root: Path, tmp_path: Path, isolation: str,
                                                                 gateway_server: int) -> None:
    text = ("FROM busybox\nRUN ls /sys/class/net > /links && ip -o -4 addr show eth0 > /addr && "
            f"{_get(GW, gateway_server, '/got')}\n")
    _bud(root, tmp_path, text, "--isolation", isolation)  # the default is private here
    assert _file(root, "/links").split() == ["eth0", "lo"]
    assert f"inet {PREFIX}" in _file(root, "/addr")
    assert _file(root, "/got").endswith("\nserved\n")
    assert _leftovers() == []


def test_private_step_cannot_reach_the_hosts_loopback(root: Path, tmp_path: Path, loopback_server: int) -> None:
    text = f"FROM busybox\nRUN {_get('127.0.0.1', loopback_server, '/got')}\n"
    _bud(root, tmp_path, text, "--network", "private")
    assert _file(root, "/got") == "unreachable\n"
    _bud(root, tmp_path, text, "--network", "host", "--no-cache")  # the same step on the host's network
    assert _file(root, "/got").endswith("\nserved\n")


def test_none_step_reaches_nothing(root: Path, tmp_path: Path, gateway_server: int) -> None:
    text = ("FROM busybox\nRUN --network=none ls /sys/class/net > /links; "
            f"{_get(GW, gateway_server, '/got')}\n")
    _bud(root, tmp_path, text)
    assert _file(root, "/links").split() == ["lo"]
    assert _file(root, "/got") == "unreachable\n"


def test_run_verb_private_and_from_default(root: Path, gateway_server: int) -> None:
    ctr = pybuild(root, "from", "--network", "private", "busybox").stdout.strip()
    out = pybuild(root, "run", ctr, "--", "sh", "-c", _get(GW, gateway_server, "/got") + "; cat /got").stdout
    assert out.endswith("\nserved\n")
    assert pybuild(root, "run", ctr, "--", "ls", "/sys/class/net").stdout.split() == ["eth0", "lo"]
    assert _leftovers() == []


def test_dns_and_hosts_files_carry_what_was_asked(root: Path, tmp_path: Path) -> None:
    text = "FROM busybox\nRUN cat /etc/resolv.conf > /resolv; cat /etc/hosts > /hosts; ip -o -4 addr show eth0 > /addr\n"
    _bud(root, tmp_path, text, "--dns", "10.9.8.7", "--dns-search", "example.test", "--dns-option", "ndots:2",
         "--add-host", "db.internal:10.1.2.3", "--add-host", "gw.internal:host-gateway")
    resolv = [ln for ln in _file(root, "/resolv").splitlines() if ln.split()[:1] in (["nameserver"], ["search"],
                                                                                      ["options"])]
    assert resolv == ["nameserver 10.9.8.7", "search example.test", "options ndots:2"]
    hosts = [ln.split() for ln in _file(root, "/hosts").splitlines()]
    own = _file(root, "/addr").split("inet ", 1)[1].split("/", 1)[0]
    assert ["10.1.2.3", "db.internal"] in hosts and [GW, "gw.internal"] in hosts
    assert hosts[-1][0] == own and own.startswith(PREFIX)
    ctr = pybuild(root, "from", "out").stdout.strip()
    for path in ("/etc/hosts", "/etc/resolv.conf"):  # bind-mounted copies: the layer has the image's own
        assert pybuild(root, "run", "--network", "none", ctr, "--", "sh", "-c",
                       f"grep -c db.internal {path} || true").stdout.strip() == "0"


def test_run_network_host_needs_the_entitlement(root: Path, tmp_path: Path) -> None:
    text = "FROM busybox\nRUN --network=host ls /sys/class/net > /links\n"
    proc = _bud(root, tmp_path, text, check=False)
    assert proc.returncode != 0 and "Containerfile:2" in proc.stderr and "--allow network.host" in proc.stderr
    assert "Traceback" not in proc.stderr
    _bud(root, tmp_path, text, "--allow", "network.host")
    assert _file(root, "/links").split() not in (["eth0", "lo"], ["lo"])


def test_network_mode_is_part_of_the_cache_key(root: Path, tmp_path: Path) -> None:
    text = "FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /id\n"
    ids = []
    for mode in ("private", "private", "host", "none", "private"):
        _bud(root, tmp_path, text, "--network", mode)
        ids.append(_file(root, "/id"))
    assert ids[0] == ids[1] == ids[4] and len({ids[0], ids[2], ids[3]}) == 3


def test_without_netavark_host_is_chosen_and_said_once(root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYBUILD_NETAVARK": ""}
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN ls /sys/class/net > /a\nRUN ls /sys/class/net > /b\n")
    proc = pybuild(root, "bud", "-t", "out", str(ctx), env=env)
    assert (proc.stdout + proc.stderr).count("private networking cannot be set up") == 1
    assert _file(root, "/a").split() not in (["eth0", "lo"], ["lo"])
    info = pybuild(root, "info", env=env).stdout
    assert '"DefaultNetwork": "host"' in info and '"DefaultNetwork": "private"' in pybuild(root, "info").stdout
    proc = pybuild(root, "bud", "--network", "private", "-t", "out", "--no-cache", str(ctx), env=env, check=False)
    assert proc.returncode != 0 and "netavark is not installed" in proc.stderr and "Traceback" not in proc.stderr


def test_killed_build_leaves_no_network_after_the_next_command(root: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN sleep 120\n")
    proc = subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(root), "bud", "-t", "x", str(ctx)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # netavark's setup is done once the step runs; the record (naming the build) comes first
    kill_when(proc, lambda: any(r.get("pid") == proc.pid for r in records().values()), "its network", settle=0.5)
    assert _leftovers() != []  # a killed build leaves its set-up ...
    pybuild(root, "images")  # ... until the next command opens a store
    assert _leftovers() == []


def test_no_hosts_leaves_the_images_own_file(root: Path, tmp_path: Path) -> None:
    text = "FROM busybox\nRUN echo '10.7.7.7 mine' > /etc/hosts\nRUN cat /etc/hosts > /h\n"
    _bud(root, tmp_path, text, "--no-hosts")
    assert _file(root, "/h") == "10.7.7.7 mine\n"
    _bud(root, tmp_path, text)  # without it the step writes into its bind-mounted copy, not the layer
    assert "10.7.7.7" not in _file(root, "/h")
    proc = _bud(root, tmp_path, text, "--no-hosts", "--add-host", "a:10.1.1.1", check=False)
    assert proc.returncode != 0 and "--no-hosts and --add-host conflict" in proc.stderr


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_ns_path_joins_a_namespace_the_test_made(root: Path, tmp_path: Path, isolation: str) -> None:
    ns = tmp_path / "netns"
    ns.touch()
    subprocess.run(["unshare", f"--net={ns}", "true"], check=True, timeout=30)
    try:
        subprocess.run(["nsenter", f"--net={ns}", "ip", "link", "add", "probe0", "type", "veth",
                        "peer", "name", "probe1"], check=True,
                       timeout=30)
        _bud(root, tmp_path, "FROM busybox\nRUN ls /sys/class/net > /links\n", "--isolation", isolation,
             "--network", f"ns:{ns}")
        assert _file(root, "/links").split() == ["lo", "probe0", "probe1"]
        ctr = pybuild(root, "from", "busybox").stdout.strip()
        out = pybuild(root, "run", "--isolation", isolation, "--network", f"ns:{ns}", ctr, "--", "ls",
                      "/sys/class/net").stdout
        assert out.split() == ["lo", "probe0", "probe1"]
    finally:
        subprocess.run(["umount", str(ns)], check=False, timeout=30)
    proc = _bud(root, tmp_path, "FROM busybox\nRUN true\n", "--network", f"ns:{tmp_path}/absent", check=False)
    assert proc.returncode != 0 and "absent" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_steps_share_the_builds_network_and_a_net_admin_step_gets_its_own(root: Path, tmp_path: Path) -> None:
    """A build sets its private network up once and reuses it step after step (BuildKit's
    namespace pool); a step that may change it (CAP_NET_ADMIN) gets one of its own."""
    text = ("FROM busybox\nRUN ip -o -4 addr show eth0 > /a\nRUN ip -o -4 addr show eth0 > /b\n"
            "RUN ls /sys/class/net > /links\n")
    _bud(root, tmp_path, text)
    first, second = (_file(root, p).split("inet ", 1)[1].split()[0] for p in ("/a", "/b"))
    assert first == second and first.startswith(PREFIX)
    assert _leftovers() == []
    changing = ("FROM busybox\nRUN ip link set eth0 mtu 1280 && cat /sys/class/net/eth0/mtu > /made\n"
                "RUN cat /sys/class/net/eth0/mtu > /next\n")
    _bud(root, tmp_path, changing, "--cap-add", "NET_ADMIN")
    assert _file(root, "/made") == "1280\n"
    assert _file(root, "/next") != "1280\n"
    assert _leftovers() == []


def test_from_dns_flags_and_run_no_hosts(root: Path) -> None:
    ctr = pybuild(root, "from", "--dns", "10.9.8.7", "--dns-search", "example.test", "--dns-option", "ndots:3",
                  "busybox").stdout.strip()
    resolv = pybuild(root, "run", ctr, "--", "cat", "/etc/resolv.conf").stdout.splitlines()
    assert [ln for ln in resolv if ln.split()[:1] in (["nameserver"], ["search"], ["options"])] == [
        "nameserver 10.9.8.7", "search example.test", "options ndots:3"]
    pybuild(root, "run", "--no-hosts", ctr, "--", "sh", "-c", "echo '10.7.7.7 mine' > /etc/hosts")
    assert pybuild(root, "run", "--no-hosts", ctr, "--", "cat", "/etc/hosts").stdout == "10.7.7.7 mine\n"
    assert "mine" not in pybuild(root, "run", ctr, "--", "cat", "/etc/hosts").stdout
    proc = pybuild(root, "run", "--no-hosts", "--add-host", "a:10.1.1.1", ctr, "--", "true", check=False)
    assert proc.returncode != 0 and "--no-hosts and --add-host conflict" in proc.stderr
    proc = pybuild(root, "from", "--dns", "nowhere", "busybox", check=False)
    assert proc.returncode != 0 and "--dns nowhere: an IP address is wanted" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dns_none_leaves_the_images_resolv_conf(root: Path, tmp_path: Path) -> None:
    text = ("FROM busybox\nRUN echo 'nameserver 10.6.6.6' > /etc/resolv.conf\n"
            "RUN cat /etc/resolv.conf > /r\n")
    _bud(root, tmp_path, text, "--dns", "none")
    assert _file(root, "/r") == "nameserver 10.6.6.6\n"
    _bud(root, tmp_path, text, "--no-cache")  # without it the steps see (and write) their own copy
    assert "10.6.6.6" not in _file(root, "/r")
    proc = _bud(root, tmp_path, text, "--dns", "none", "--dns", "10.1.1.1", check=False)
    assert proc.returncode != 0 and "--dns none: an IP address is wanted (none stands alone)" in proc.stderr
