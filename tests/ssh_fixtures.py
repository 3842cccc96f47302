"""A real sshd (Debian's openssh-server) started by the test on 127.0.0.1 with its own host
key and authorized_keys, a real ssh-agent, and a base image holding the host's git and ssh
clients (copied with the libraries ldd names) so RUN can `git clone` over ssh for real."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.registry_fixtures import _wait_listening, free_port

SSHD = "/usr/sbin/sshd"


def need_ssh() -> None:
    for tool in (SSHD, "ssh", "ssh-agent", "ssh-add", "ssh-keygen", "git"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (apt-get install openssh-server openssh-client git)")


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pybuild-test", "-f", str(path)],
                   check=True, timeout=30)
    return path


@dataclass
class Sshd:
    port: int
    key: Path  # the client's private key (its public half is authorized)


@contextlib.contextmanager
def sshd(base: Path) -> Iterator[Sshd]:
    """sshd on 127.0.0.1:PORT letting root in with the key it yields (and nothing else)."""
    need_ssh()
    base.mkdir(parents=True, exist_ok=True)
    host = keygen(base / "host_key")
    client = keygen(base / "client_key")
    auth = base / "authorized_keys"
    auth.write_text((base / "client_key.pub").read_text())
    port = free_port()
    config = base / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {base}/sshd.pid\n"
                      f"AuthorizedKeysFile {auth}\nStrictModes no\nPasswordAuthentication no\n"
                      "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
                      "AcceptEnv none\nPrintMotd no\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(base / "sshd.log", "wb"))
    try:
        _wait_listening(port, None)
        yield Sshd(port, client)
    finally:
        proc.terminate()
        proc.wait(10)


def _accepts(path: Path) -> bool:
    """Whether a unix socket at ``path`` takes a connection now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def ssh_agent(base: Path, *keys: Path) -> Iterator[str]:
    """A real ssh-agent holding ``keys``; yields its socket (SSH_AUTH_SOCK)."""
    sock = base / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _accepts(sock):  # the socket file appears at bind(), before listen()
            assert time.monotonic() < deadline and proc.poll() is None, "ssh-agent did not start"
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", *map(str, keys)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
                       check=True, timeout=30, stdin=subprocess.DEVNULL)
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(10)


def _with_libraries(binaries: list[str]) -> set[str]:
    files: set[str] = set()
    for b in binaries:
        files.add(b)
        out = subprocess.run(["ldd", b], capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            parts = line.split()
            path = next((p for p in parts if p.startswith("/")), None)
            if path:
                files.add(path)
    return files


def tools_context(work: Path) -> Path:
    """A context whose Containerfile makes ``sshtools`` FROM busybox: the host's git, ssh and
    ssh-add with their libraries (git's helpers run through /usr/lib/git-core/git)."""
    need_ssh()
    ctx = work / "sshtools-ctx"
    rootfs = ctx / "rootfs"
    bins = [shutil.which(t) or t for t in ("git", "ssh", "ssh-add")]
    for f in _with_libraries(bins):
        dest = rootfs / f.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    core = rootfs / "usr" / "lib" / "git-core"
    core.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bins[0], core / "git")
    (ctx / "Containerfile").write_text("FROM busybox\nCOPY rootfs/ /\n")
    return ctx
