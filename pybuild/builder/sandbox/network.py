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

**Idle networks across builds.** Set-up and teardown cost a small cold build ~250 ms (netavark
also drops the bridge and its rules when the last namespace leaves it), so when a build ends
its set-ups are *parked* instead: the record is marked idle (no owner: :func:`recover` leaves
it) while fewer than ``$PYBUILD_NET_IDLE`` (default 4; 0 turns parking off) are idle, else it
is torn down. The next build's first private step *claims* one under the state lock (the
record names the claimer again, so a claimer killed by SIGKILL is recovered as before) and
sets up a new one only when none is idle. ``pybuild prune`` tears idle ones down
(:func:`release_idle`). A claimed one is checked first: its namespace file must still be a
mount (a state dir outside /run keeps records across a reboot, the namespace does not) and
the bridge must be the one it was parked on (same interface index: not gone, not made anew),
and no process may have entered it since; if not it is torn down and a new one set up.

What could a reused namespace carry from one build to the next? BuildKit's CNI pool
(util/network/netpool) puts a namespace back as it is and checks nothing; its answer is that a
step cannot change it (no CAP_NET_ADMIN: a custom hostname or ``--security=insecure`` gets no
pooled one). pybuild does at least that and more:

- config (addresses, routes, links, iptables/nft, qdiscs, conntrack tables and their rules):
  every change needs CAP_NET_ADMIN; a set-up used by a step that had it, or CAP_SYS_ADMIN
  (which could remount /proc/sys writable or enter other namespaces), is never reused,
  within a build or across (:func:`reusable`).
- sysctls (net.*): a root uid may write a namespace's net sysctls without CAP_NET_ADMIN, but
  both isolations mount /proc/sys read-only; with CAP_SYS_ADMIN the set-up is not reused.
- processes, and with them sockets (listening ports, abstract unix sockets, which are per
  namespace): each step has its own PID namespace, so none outlives the step; before parking,
  every /proc/PID/ns/net is compared with the namespace and one still in it means teardown.
- what the kernel keeps by itself (TIME_WAIT sockets, ARP entries of the gateway, the netns's
  conntrack entries when something made conntrack track there): no process can read another's
  data through them; they expire within minutes, as they would between two steps of one build.

Rootless (slirp4netns, pasta) is not done: :func:`unavailable` says why private cannot be
set up and the caller falls back to host networking, saying so once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pybuild.builder.sandbox import netns as netns_file
from pybuild.errors import ConfigError, SandboxError
from pybuild.fsutil import FileLock, atomic_write, pid_alive, process_start
from pybuild.rootless import in_user_namespace, is_rootless, runtime_dir
from pybuild.values import Value

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
IDLE_MAX = 4  # idle private networks kept across builds ($PYBUILD_NET_IDLE)
UNSAFE_TO_REUSE = ("CAP_NET_ADMIN", "CAP_SYS_ADMIN")  # a step given one may have changed its namespace
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


class Setup(Value):
    """One private network: its namespace file, the step's address, the gateway (what
    host-gateway names), the resolver that stands in for a loopback one (None: the gateway
    when a DNS server listens there), and slirp4netns's handle when it is slirp4netns's."""

    __slots__ = _FIELDS = ("netns", "address", "gateway", "dns", "slirp")

    def __init__(self, netns: str, address: str, gateway: str = str(GATEWAY), dns: str | None = None,
                 slirp: Any = None) -> None:
        self.netns, self.address, self.gateway, self.dns, self.slirp = netns, address, gateway, dns, slirp


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


def _own(record: Path, ip: str, netns: Path) -> None:
    """Write ``record`` naming this process as the set-up's owner (what :func:`recover` reads)."""
    pid = os.getpid()
    _write(record, {"pid": pid, "start": process_start(pid), "ip": ip, "netns": str(netns)})


def _write(record: Path, info: dict[str, Any]) -> None:
    """Replace ``record`` whole, unsynced: what it names (a namespace, its veth, the bridge)
    does not outlive a machine crash either, so neither need it (issue 19: two fsyncs a build
    where the state dir is on disk); a record a crash cut short is removed by :func:`recover`."""
    atomic_write(record, json.dumps(info).encode(), durable=False)


def _allocate() -> tuple[str, Path]:
    """A free address and its record, under the lock; the record names this process."""
    setups = STATE_DIR / "setups"
    taken = {p.stem for p in setups.glob("*.json")}
    for host in SUBNET.hosts():
        ip = str(host)
        if host == GATEWAY or ip in taken:
            continue
        record = setups / f"{ip}.json"
        _own(record, ip, STATE_DIR / "netns" / ip)
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
    # networks are machine-wide but a store's opening recovers only its own dead: a killed build
    # of another store would keep its address until then, so a new set-up frees them first
    recover()
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


def reusable(capabilities: list[str] | tuple[str, ...]) -> bool:
    """Whether a step with ``capabilities`` may share a private network with later steps and
    builds: not when it could have changed its namespace (see the module docstring)."""
    return not any(c in capabilities for c in UNSAFE_TO_REUSE)


def _idle_max() -> int:
    try:
        return max(0, int(os.environ.get("PYBUILD_NET_IDLE", IDLE_MAX)))
    except ValueError:
        return IDLE_MAX


def _read(record: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(record.read_text())
        return info if isinstance(info, dict) and "ip" in info else None
    except (OSError, ValueError):
        return None


def _is_mount(path: Path) -> bool:
    """Whether ``path`` is still a namespace bound on its file (after a reboot it is a plain file)."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except OSError:
        return False


def _occupied(netns: Path) -> bool:
    """Whether any process is still in the namespace bound on ``netns``."""
    try:
        st = os.stat(netns)
    except OSError:
        return False
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ns = os.stat(f"/proc/{name}/ns/net")
            except OSError:
                continue
            if (ns.st_dev, ns.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


def _bridge_index() -> int | None:
    """The bridge's interface index (None: gone): an idle network's veth hangs on the bridge
    that was there when it was parked, not on one made again since."""
    try:
        return int(Path(f"/sys/class/net/{BRIDGE}/ifindex").read_text())
    except (OSError, ValueError):
        return None


def _claim() -> Setup | None:
    """An idle private network, now owned by this process (None: none is idle, or only broken
    ones, which are torn down)."""
    setups = STATE_DIR / "setups"
    try:
        if not any(name.endswith(".json") for name in os.listdir(setups)):
            return None
    except OSError:
        return None
    if unavailable():  # what could not be set up is not used either (nor torn down)
        return None
    with _lock().hold():
        for record in sorted(setups.glob("*.json")):
            info = _read(record)
            if info is None or not info.get("idle"):
                continue
            ip, netns = str(info["ip"]), STATE_DIR / "netns" / str(info["ip"])
            if not _is_mount(netns) or info.get("bridge") != _bridge_index() or _occupied(netns):
                with contextlib.suppress(SandboxError):
                    _teardown(ip, netns, record)
                continue
            _own(record, ip, netns)
            return Setup(str(netns), ip)
    return None


def _park(setup: Setup) -> bool:
    """Mark ``setup`` idle for a later build (True), or tear it down (False): over the bound,
    not netavark's, or a process still in it."""
    if setup.slirp is not None or in_user_namespace():
        _tear_down(setup)
        return False
    netns, record = Path(setup.netns), STATE_DIR / "setups" / f"{setup.address}.json"
    with _lock().hold():
        idle = sum(1 for r in (STATE_DIR / "setups").glob("*.json") if (_read(r) or {}).get("idle"))
        bridge = _bridge_index()
        parked = idle < _idle_max() and bridge is not None and _is_mount(netns) and not _occupied(netns)
        if parked:
            _write(record, {"idle": True, "ip": setup.address, "netns": setup.netns, "bridge": bridge})
    if not parked:  # (still ours: its record names this process until then)
        _tear_down(setup)
    return parked


def release_idle() -> list[str]:
    """Tear down every idle private network (``pybuild prune``); the addresses freed."""
    setups = STATE_DIR / "setups"
    if not setups.is_dir():
        return []
    return _tear_down_where(lambda info: bool(info.get("idle")))


def _tear_down_where(chosen: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Under the lock, tear down every set-up whose record is ``chosen``; the addresses freed."""
    freed = []
    with _lock().hold():
        for record in (STATE_DIR / "setups").glob("*.json"):
            info = _read(record)
            if info is not None and chosen(info):
                ip = str(info["ip"])
                with contextlib.suppress(SandboxError):
                    _teardown(ip, STATE_DIR / "netns" / ip, record)
                freed.append(ip)
    return freed


class Pool:
    """The private networks one build reuses from step to step (only steps :func:`reusable`
    lease them); :meth:`close` parks them idle for later builds or tears them down (a killed
    build's are torn down by :func:`recover`). Steps running at once (parallel stages) each
    hold their own."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._idle: dict[str, list[Setup]] = {}  # by mode: private, slirp4netns[:OPTIONS]
        self._made: list[Setup] = []
        self.set_ups = 0  # how many were set up (what reuse saves shows here)
        self.claimed = 0  # how many were idle ones claimed from earlier builds

    @contextlib.contextmanager
    def lease(self, mode: str = "private") -> Iterator[Setup]:
        with self._lock:
            idle = self._idle.setdefault(mode, [])
            setup = idle.pop() if idle else None
        if setup is None:
            setup = _claim() if mode == "private" and _idle_max() and not in_user_namespace() else None
            claimed = setup is not None
            if setup is None:
                setup = _set_up(mode)
            with self._lock:
                self._made.append(setup)
                self.claimed += claimed
                self.set_ups += not claimed
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
                _park(setup)
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
    """Tear down the set-ups of dead processes (killed builds, idle ones aside: they have no
    owner by design); the addresses (and slirp4netns namespaces) freed."""
    from pybuild.builder.sandbox import slirp

    freed = slirp.recover(STATE_DIR)
    setups = STATE_DIR / "setups"
    try:  # no record of a dead owner, nothing to tear down: no lock (every command opens a store)
        records = [setups / n for n in os.listdir(setups) if n.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return freed
    cut_short = [r for r in records if _cut_short(r)]
    if cut_short:
        with _lock().hold():
            for record in (r for r in cut_short if _cut_short(r)):
                netns_file.remove(STATE_DIR / "netns" / record.stem)
                with contextlib.suppress(FileNotFoundError):
                    record.unlink()
    if not any(_dead(_read(r)) for r in records):
        return freed
    return freed + _tear_down_where(_dead)


def _cut_short(record: Path) -> bool:
    """Whether ``record`` is unreadable and older than this boot: a write a crash cut short
    (records appear whole by rename, so within one boot no reader sees one half-written)."""
    if _read(record) is not None:
        return False
    try:
        return os.stat(record).st_mtime < _boot_time()
    except OSError:
        return False


def _boot_time() -> float:
    """When this machine booted (``btime`` of /proc/stat), in seconds since the epoch."""
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return 0.0


def _dead(info: dict[str, Any] | None) -> bool:
    """Whether a set-up's record ``info`` is a claimed one whose owner is gone."""
    if info is None or info.get("idle"):
        return False
    try:
        return not pid_alive(int(info["pid"]), info.get("start"))
    except (KeyError, TypeError, ValueError):
        return False


__all__ = ["MODES", "BRIDGE", "SUBNET", "GATEWAY", "Pool", "Setup", "check_mode", "describe_default", "effective_mode", "netavark_path",
           "joined", "private", "recover", "release_idle", "reusable", "unavailable"]
