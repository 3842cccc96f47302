"""User-mode networking for RUN: a network namespace whose tap0 slirp4netns connects to the
host's network through ordinary sockets, needing no privilege (rootless ``private``, podman's
``--network slirp4netns``).

Each set-up::

    unshare --net=NSFILE true                          the namespace, kept by a bind mount
    slirp4netns --configure --mtu=65520 --disable-host-loopback \\
        --netns-type=path --ready-fd R --exit-fd E NSFILE tap0

The step sees tap0 at 10.0.2.100 (gateway 10.0.2.2, DNS forwarder 10.0.2.3), as podman's
rootless containers. slirp4netns exits when the write end of its exit pipe closes: when the
set-up is torn down, or when pybuild dies however it dies, so a killed build leaves no
slirp4netns behind; the namespace file left in the state dir is removed by :func:`recover`.
The host's loopback (127.0.0.1, where a CI runner's private services listen) is not reachable
unless ``allow_host_loopback=true`` is given (podman's option, and its default: off).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder.sandbox import netns as netns_file
from pybuild.errors import ConfigError, SandboxError
from pybuild.fsutil import atomic_write, pid_alive, process_start

if TYPE_CHECKING:
    import subprocess

ADDRESS = "10.0.2.100"
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
MTU = 65520  # podman's: fewer, larger packets through the user-mode stack
OPTIONS = ("allow_host_loopback",)
_TIMEOUT = 30


def path() -> str | None:
    """slirp4netns's binary: $PYBUILD_SLIRP4NETNS (empty: none), else PATH."""
    env = os.environ.get("PYBUILD_SLIRP4NETNS")
    if env is not None:
        return env if env and os.access(env, os.X_OK) else None
    return shutil.which("slirp4netns")


def parse_options(mode: str, where: str = "--network") -> dict[str, bool]:
    """The options of ``slirp4netns[:allow_host_loopback=true|false]`` (podman's spelling)."""
    _, _, text = mode.partition(":")
    out = {"allow_host_loopback": False}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if key not in OPTIONS or not sep or value not in ("true", "false"):
            raise ConfigError(f"{where} {mode}: unknown slirp4netns option {item!r} "
                              "(pybuild knows allow_host_loopback=true|false)")
        out[key] = value == "true"
    return out


@dataclass(frozen=True)
class Slirp:
    """One running slirp4netns: its namespace, its process and the pipe end that keeps it alive."""

    netns: Path
    record: Path
    process: Any  # subprocess.Popen (imported where a set-up runs: opening a store recovers without it)
    exit_fd: int


def _wait_ready(fd: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Block until slirp4netns writes "1" on its ready pipe (or fails, or time runs out)."""
    import select

    ready, _, _ = select.select([fd], [], [], _TIMEOUT)
    data = os.read(fd, 1) if ready else b""
    if data == b"1":
        return
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()
    try:
        said = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        said = []
    why = said[-1] if said else ("timed out" if not ready else f"exit status {proc.returncode}")
    raise SandboxError(f"slirp4netns network: slirp4netns did not start: {why}")


def set_up(state_dir: Path, allow_host_loopback: bool = False) -> Slirp:
    """A namespace with slirp4netns on its tap0, recorded (owner PID + start time) in ``state_dir``."""
    import subprocess

    exe = path()
    if exe is None:
        raise SandboxError("slirp4netns network: slirp4netns is not installed (apt-get install slirp4netns)")
    base = state_dir / "slirp"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    pid = os.getpid()
    name = f"{pid}-{os.urandom(4).hex()}"
    netns, record, log = base / name, base / f"{name}.json", base / f"{name}.log"
    atomic_write(record, json.dumps({"pid": pid, "start": process_start(pid), "netns": str(netns)}).encode())
    ready_r = ready_w = exit_r = exit_w = -1
    try:
        netns_file.make(netns, "slirp4netns network")
        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        argv = [exe, "--configure", f"--mtu={MTU}", *([] if allow_host_loopback else ["--disable-host-loopback"]),
                "--netns-type=path", "--ready-fd", str(ready_w), "--exit-fd", str(exit_r), str(netns), "tap0"]
        with open(log, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    pass_fds=(ready_w, exit_r), start_new_session=True)
        os.close(ready_w)
        os.close(exit_r)
        ready_w = exit_r = -1
        _wait_ready(ready_r, proc, log)
    except BaseException:
        for fd in (ready_w, exit_r, exit_w):
            if fd >= 0:
                os.close(fd)
        exit_w = -1
        netns_file.remove(netns)
        for leftover in (record, log):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    finally:
        if ready_r >= 0:
            os.close(ready_r)
    return Slirp(netns, record, proc, exit_w)


def tear_down(s: Slirp) -> None:
    """Stop slirp4netns (its exit pipe closes), remove the namespace and the record."""
    import subprocess

    with contextlib.suppress(OSError):
        os.close(s.exit_fd)
    try:
        s.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        s.process.kill()
        s.process.wait()
    netns_file.remove(s.netns)
    for leftover in (s.record, s.record.with_suffix(".log")):
        with contextlib.suppress(OSError):
            leftover.unlink()


def recover(state_dir: Path) -> list[str]:
    """Remove what killed builds left (their slirp4netns exited with them): namespaces and records."""
    base = state_dir / "slirp"
    if not base.is_dir():
        return []
    removed = []
    for record in base.glob("*.json"):
        try:
            info = json.loads(record.read_text())
            pid, start, netns = int(info["pid"]), info.get("start"), Path(info["netns"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid_alive(pid, start) or netns.parent != base:
            continue
        netns_file.remove(netns)
        for leftover in (record, record.with_suffix(".log")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        removed.append(netns.name)
    return removed


__all__ = ["ADDRESS", "DNS", "GATEWAY", "Slirp", "parse_options", "path", "recover", "set_up", "tear_down"]
