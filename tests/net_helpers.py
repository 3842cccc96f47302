"""What the private-network tests share: a step's fetch from a server the test started, and
what of pybuild's networking is left on the machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from containers_helpers import busybox_store

from pybuild.builder.sandbox import network


def busybox_store_for_private(tmp: Path) -> Path:
    """A busybox store for private-network tests, which skip without root or netavark."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, netavark)")
    if network.unavailable():
        pytest.skip(f"private networking unavailable: {network.unavailable()} (apt-get install netavark)")
    return busybox_store(tmp)


def get_command(address: str, port: int, dest: str) -> str:
    """A shell command fetching / from address:port into dest, or writing "unreachable" there
    (busybox's nc: its wget crashes on the host network)."""
    return (f"{{ printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port} > {dest} && grep -q served {dest}; }}"
            f" || echo unreachable > {dest}")


def leftovers(release_idle: bool = True) -> list[str]:
    """Whatever of pybuild's networking is still on the machine; first (``release_idle``) the
    networks parked idle for later builds are torn down, as ``pybuild prune`` does, so what
    is left is what a build failed to give up."""
    if release_idle:
        network.release_idle()
    found = []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    found += [ln for ln in links.splitlines() if network.BRIDGE in ln]
    mounts = Path("/proc/self/mounts").read_text()
    found += [ln for ln in mounts.splitlines() if str(network.STATE_DIR) in ln]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    rules += subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=False).stdout
    found += [ln for ln in rules.splitlines() if str(network.SUBNET) in ln or network.BRIDGE in ln]
    setups = network.STATE_DIR / "setups"
    found += [str(p) for p in setups.glob("*.json")] if setups.is_dir() else []
    return found


def records() -> dict[str, dict[str, object]]:
    """The private-network records by address: claimed ones name their owner (pid), idle ones say so."""
    found = {}
    setups = network.STATE_DIR / "setups"
    for p in setups.glob("*.json") if setups.is_dir() else []:
        try:
            found[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):  # torn down, or being replaced, as we read
            continue
    return found
