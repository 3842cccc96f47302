"""Private networking for RUN: network namespaces wired to a bridge by netavark.

A build keeps a :class:`Pool` of them, as BuildKit keeps a pool of network namespaces: a
step takes an idle one (or sets one up), gives it back when it ends, and the build tears them
all down when it ends; so a build of 20 RUN steps pays for one set-up, not 20. A step that
may change its namespace (one given CAP_NET_ADMIN) gets one of its own, never reused.

Each set-up, as root (``--network private``)::

    allocate 10.89.231.N under the state lock, record it (owner PID + start time)
    unshare --net=NSFILE true          the step's namespace, kept alive by a bind mount
    netavark setup NSFILE  < options   veth eth0 in it, bridge pybuild0 on the host, NAT out
    ... the step joins NSFILE (chroot: setns; oci: the spec's network namespace path) ...
    netavark teardown NSFILE < options; umount and remove NSFILE; remove the record

State lives under ``/run/pybuild/net`` (machine-wide, not per store: every store's
builds share one bridge and one subnet, and /run empties at boot, as the bridge does);
``$PYBUILD_NET_STATE`` names another state dir, with its own bridge and subnet.
A build killed mid-step leaves its record: :func:`recover` (run by the store's recovery
when a command opens a store) tears down every record whose owner is dead.

Rootless (slirp4netns, pasta) is not done: :func:`unavailable` says why private cannot be
set up and the caller falls back to host networking, saying so once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybuild.builder.sandbox import netns as netns_file
from pybuild.errors import ConfigError, SandboxError
from pybuild.fsutil import FileLock, atomic_write, pid_alive, process_start
from pybuild.rootless import in_user_namespace, is_rootless, runtime_dir

DEFAULT_STATE_DIR = Path("/run/pybuild/net")


def _default_state_dir() -> Path:
    return Path(runtime_dir()) / "net" if is_rootless() else DEFAULT_STATE_DIR


STATE_DIR = Path(os.environ.get("PYBUILD_NET_STATE") or str(_default_state_dir()))


def _network_slot(state_dir: Path) -> int:
    """0 for the machine's state dir; 1-250 for another (``$PYBUILD_NET_STATE``: a test run or CI
    job beside others, a fresh-check root), so that each has its own bridge, subnet and
    netavark network, and one never tears down what another set up."""
    if state_dir == DEFAULT_STATE_DIR:
        return 0
    import hashlib

    return 1 + int.from_bytes(hashlib.sha256(str(state_dir).encode()).digest()[:4], "big") % 250


_SLOT = _network_slot(STATE_DIR)
NETWORK_NAME = "pybuild" if _SLOT == 0 else f"pybuild-{_SLOT:03d}"
BRIDGE = "pybuild0" if _SLOT == 0 else f"pybuild-{_SLOT:03d}"
# beside podman's 10.88.0.0/16, far from its 10.89.0.0/24 and the networks it adds after it
SUBNET = ipaddress.ip_network("10.89.231.0/24" if _SLOT == 0 else f"10.90.{_SLOT}.0/24")
GATEWAY = SUBNET.network_address + 1
NETWORK_ID = ("70796275696c64" + f"{_SLOT:02x}").ljust(64, "0")  # "pybuild" in hex, the slot, padded to 64
NETAVARK_PATHS = ("/usr/libexec/podman/netavark", "/usr/lib/podman/netavark", "/usr/local/libexec/podman/netavark")
MODES = ("private", "host", "none", "slirp4netns")  # and ns:PATH, slirp4netns:OPTIONS
_TIMEOUT = 60
TUN = "/dev/net/tun"  # slirp4netns opens it inside the step's namespace to make tap0


def check_mode(mode: str, where: str = "--network") -> str:
    """``mode`` if it is one pybuild knows (private, host, none, ns:PATH, slirp4netns[:OPTIONS],
    or default), else ConfigError."""
    if mode in (*MODES, "default") or (mode.startswith("ns:") and len(mode) > 3):
        return mode
    if mode.startswith("slirp4netns:"):
        from pybuild.builder.sandbox import slirp

        slirp.parse_options(mode, where)
        return mode
    if mode.startswith("pasta"):
        raise ConfigError(f"{where} {mode}: pasta is not supported (slirp4netns is: --network slirp4netns)")
    raise ConfigError(f"{where} {mode}: unknown network mode (private, host, none, ns:PATH or slirp4netns; "
                      "named networks such as bridge are not supported: private is pybuild's own bridge)")


def netavark_path() -> str | None:
    """netavark's binary: $PYBUILD_NETAVARK, podman's libexec copies, else PATH."""
    env = os.environ.get("PYBUILD_NETAVARK")
    if env is not None:
        return env if env and os.access(env, os.X_OK) else None
    for p in NETAVARK_PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("netavark")


def unavailable() -> str | None:
    """Why a private network cannot be set up here (None: it can): a bridge by netavark as
    root, slirp4netns in a user namespace (rootless)."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if os.geteuid() != 0:
        return "not root and not in a user namespace (pybuild unshare)"
    if in_user_namespace():
        from pybuild.builder.sandbox import slirp

        if not slirp.path():
            return "rootless, and slirp4netns is not installed (apt-get install slirp4netns)"
        if not os.access(TUN, os.R_OK | os.W_OK):
            return f"rootless, and {TUN} is not open to this user (Debian's udev makes it 0666)"
        return None
    if netavark_path() is None:
        return "netavark is not installed"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    return None


def effective_mode(mode: str | None) -> str:
    """The mode a step runs with: default/None is private where it can be set up, else host."""
    if mode in (None, "", "default"):
        return "host" if unavailable() else "private"
    return mode


def describe_default() -> dict[str, str]:
    """What ``pybuild info`` says: the default network mode and, for host, why."""
    why = unavailable()
    out = {"DefaultNetwork": "host" if why else "private"}
    if why:
        out["DefaultNetworkReason"] = f"private networking cannot be set up: {why}"
    elif in_user_namespace():
        from pybuild.builder.sandbox import slirp

        out["PrivateNetwork"] = f"slirp4netns {slirp.path()}, tap0 {slirp.ADDRESS} (rootless)"
    else:
        out["PrivateNetwork"] = f"netavark {netavark_path()}, bridge {BRIDGE}, subnet {SUBNET}"
    return out


@dataclass(frozen=True)
class Setup:
    """One private network: its namespace file, the step's address, the gateway (what
    host-gateway names), the resolver that stands in for a loopback one (None: the gateway
    when a DNS server listens there), and slirp4netns's handle when it is slirp4netns's."""

    netns: str
    address: str
    gateway: str = str(GATEWAY)
    dns: str | None = None
    slirp: Any = None


def _options(ip: str) -> dict[str, object]:
    """netavark's network options for one step on pybuild's bridge (IPAM is ours)."""
    return {
        "container_id": NETWORK_ID[:14] + ip.replace(".", "").rjust(12, "0") + "0" * 38,
        "container_name": "pybuild-" + ip,
        "networks": {NETWORK_NAME: {"static_ips": [ip], "interface_name": "eth0"}},
        "network_info": {NETWORK_NAME: {
            "name": NETWORK_NAME, "id": NETWORK_ID, "driver": "bridge", "network_interface": BRIDGE,
            "subnets": [{"subnet": str(SUBNET), "gateway": str(GATEWAY)}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": False,
            "ipam_options": {"driver": "host-local"}}},
    }


def _lock() -> FileLock:
    (STATE_DIR / "setups").mkdir(parents=True, exist_ok=True)
    return FileLock(STATE_DIR / "lock")


def _netavark(verb: str, netns: str, ip: str) -> None:
    exe = netavark_path()
    if exe is None:
        raise SandboxError("private network: netavark is not installed")
    config = STATE_DIR / "netavark"
    config.mkdir(parents=True, exist_ok=True)
    import subprocess  # (here and below: bud imports this module for its flags, not to run)

    try:
        proc = subprocess.run([exe, "--config", str(config), verb, netns], input=json.dumps(_options(ip)).encode(),
                              capture_output=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"private network: netavark {verb}: {e}") from None
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise SandboxError(f"private network: netavark {verb}: {message[-1] if message else proc.returncode}")


def _allocate() -> tuple[str, Path]:
    """A free address and its record, under the lock; the record names this process."""
    setups = STATE_DIR / "setups"
    taken = {p.stem for p in setups.glob("*.json")}
    for host in SUBNET.hosts():
        ip = str(host)
        if host == GATEWAY or ip in taken:
            continue
        record = setups / f"{ip}.json"
        pid = os.getpid()
        atomic_write(record, json.dumps({"pid": pid, "start": process_start(pid), "ip": ip,
                                         "netns": str(STATE_DIR / "netns" / ip)}).encode())
        return ip, record
    raise SandboxError(f"private network: every address of {SUBNET} is in use")


def _teardown(ip: str, netns: Path, record: Path) -> None:
    """Undo one set-up (the lock is held); what is already gone is not an error."""
    try:
        if netns.exists():
            _netavark("teardown", str(netns), ip)
        else:  # e.g. unmounted by hand: a fresh namespace still lets netavark drop the bridge and rules
            netns_file.make(netns, "private network")
            with contextlib.suppress(SandboxError):
                _netavark("teardown", str(netns), ip)
    finally:
        netns_file.remove(netns)
        with contextlib.suppress(FileNotFoundError):
            record.unlink()


def _set_up(mode: str = "private") -> Setup:
    """A new network for ``mode`` (private, slirp4netns[:OPTIONS]); its record names this
    process until :func:`_tear_down`."""
    if mode.startswith("slirp4netns") or (mode == "private" and in_user_namespace()):
        from pybuild.builder.sandbox import slirp

        if shutil.which("unshare") is None:
            raise SandboxError(f"--network {mode}: unshare (util-linux) is not installed")
        opts = slirp.parse_options(mode) if mode != "private" else {}
        s = slirp.set_up(STATE_DIR, **opts)
        return Setup(str(s.netns), slirp.ADDRESS, slirp.GATEWAY, slirp.DNS, s)
    why = unavailable()
    if why:
        raise SandboxError(f"--network private: {why}")
    (STATE_DIR / "netns").mkdir(parents=True, exist_ok=True)
    with _lock().hold():
        ip, record = _allocate()
        netns = STATE_DIR / "netns" / ip
        try:
            netns_file.make(netns, "private network")
            _netavark("setup", str(netns), ip)
        except BaseException:
            _teardown(ip, netns, record)
            raise
    return Setup(str(netns), ip)


def _tear_down(setup: Setup) -> None:
    if setup.slirp is not None:
        from pybuild.builder.sandbox import slirp

        slirp.tear_down(setup.slirp)
        return
    with _lock().hold():
        _teardown(setup.address, Path(setup.netns), STATE_DIR / "setups" / f"{setup.address}.json")


@contextlib.contextmanager
def private(mode: str = "private") -> Iterator[Setup]:
    """A private network of its own for one step, torn down when the block ends (however it ends)."""
    setup = _set_up(mode)
    try:
        yield setup
    finally:
        _tear_down(setup)


class Pool:
    """The private networks one build reuses from step to step; :meth:`close` tears them down
    (a killed build's are torn down by :func:`recover`). Steps running at once (parallel
    stages) each hold their own."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._idle: dict[str, list[Setup]] = {}  # by mode: private, slirp4netns[:OPTIONS]
        self._made: list[Setup] = []
        self.set_ups = 0  # how many were set up (what reuse saves shows here)

    @contextlib.contextmanager
    def lease(self, mode: str = "private") -> Iterator[Setup]:
        with self._lock:
            idle = self._idle.setdefault(mode, [])
            setup = idle.pop() if idle else None
        if setup is None:
            setup = _set_up(mode)
            with self._lock:
                self._made.append(setup)
                self.set_ups += 1
        try:
            yield setup
        finally:
            with self._lock:
                self._idle.setdefault(mode, []).append(setup)

    def close(self) -> None:
        with self._lock:
            made, self._made, self._idle = self._made, [], {}
        errors = []
        for setup in made:
            try:
                _tear_down(setup)
            except SandboxError as e:
                errors.append(e)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def joined(mode: str, pool: Pool | None = None) -> Iterator[tuple[str, str, Setup | None]]:
    """(RunSpec.network, RunSpec.netns, the private set-up or None) for an effective ``mode``;
    a private network comes from ``pool`` (given back when the block ends) or, without one,
    is the block's own."""
    if mode == "private" or mode.startswith("slirp4netns"):
        with (pool.lease(mode) if pool is not None else private(mode)) as setup:
            yield "ns", setup.netns, setup
    elif mode.startswith("ns:"):
        yield "ns", mode[3:], None
    elif mode in ("host", "none"):
        yield mode, "", None
    else:
        check_mode(mode)
        raise ConfigError(f"--network {mode}: not a mode a step can run with")


def recover() -> list[str]:
    """Tear down the set-ups of dead processes (killed builds); the addresses (and slirp4netns
    namespaces) freed."""
    from pybuild.builder.sandbox import slirp

    freed = slirp.recover(STATE_DIR)
    setups = STATE_DIR / "setups"
    try:  # no record, nothing to tear down: one listing, no lock (every command opens a store)
        if not any(name.endswith(".json") for name in os.listdir(setups)):
            return freed
    except (FileNotFoundError, NotADirectoryError):
        return freed
    with _lock().hold():
        for record in setups.glob("*.json"):
            try:
                info = json.loads(record.read_text())
                pid, start, ip = int(info["pid"]), info.get("start"), str(info["ip"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if pid_alive(pid, start):
                continue
            with contextlib.suppress(SandboxError):
                _teardown(ip, STATE_DIR / "netns" / ip, record)
            freed.append(ip)
    return freed


__all__ = ["MODES", "BRIDGE", "SUBNET", "GATEWAY", "Pool", "Setup", "check_mode", "describe_default", "effective_mode", "netavark_path",
           "joined", "private", "recover", "unavailable"]
