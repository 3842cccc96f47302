"""A step's /etc/resolv.conf and /etc/hosts: written from the host's, bind-mounted, never in a layer.

resolv.conf: the host's, with ``--dns``, ``--dns-search`` and ``--dns-option`` each
replacing the host's lines of their kind (Docker's and buildah's rule). In a namespace
of its own (private, ns:PATH) a loopback nameserver such as systemd-resolved's
127.0.0.53 would be the step's own loopback, where nothing answers. As podman does, it
is replaced: by slirp4netns's forwarder (10.0.2.3) under slirp4netns; by the bridge gateway when a DNS server listens there (a UDP socket on port
53 bound to the gateway or to every address, read from /proc/net/udp: no packet is
sent), else it is dropped; when nothing is left, systemd-resolved's upstream list
(/run/systemd/resolve/resolv.conf) is used. A ``none`` step gets an empty file.

hosts: the host's, the ``--add-host`` entries (``host-gateway`` is the bridge gateway
under private networking, 127.0.0.1 under host networking), and the step's hostname
on its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pybuild.errors import ConfigError

SYSTEMD_UPSTREAM = "/run/systemd/resolve/resolv.conf"


def read_host_file(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def dns_listens_on(address: str, proc_udp: str = "/proc/net/udp") -> bool:
    """Whether a UDP socket on port 53 is bound to ``address`` (IPv4) or to 0.0.0.0 on this host."""
    want = {"00000000", ipaddress.IPv4Address(address).packed[::-1].hex().upper()}
    for line in read_host_file(proc_udp).splitlines()[1:]:
        fields = line.split()
        if len(fields) > 1:
            ip, _, port = fields[1].partition(":")
            if port == "0035" and ip.upper() in want:
                return True
    return False


def _nameservers(text: str) -> list[str]:
    return [ln.split()[1] for ln in text.splitlines() if ln.split()[:1] == ["nameserver"] and len(ln.split()) > 1]


def check_dns(servers: Sequence[str], where: str = "--dns") -> list[str]:
    """``--dns`` values: IP addresses, or buildah's ``none`` alone (no resolv.conf is made)."""
    if list(servers) == ["none"]:
        return ["none"]
    for item in servers:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f"{where} {item}: an IP address is wanted"
                              + (" (none stands alone)" if item == "none" else "")) from None
    return list(servers)


def resolv_conf(mode: str, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
                dns_options: Sequence[str] = (), gateway: str | None = None,
                host_text: str | None = None, forwarder: str | None = None) -> str | None:
    """The step's resolv.conf for network ``mode`` (host, none, private, ns:PATH); None with
    ``--dns none`` (buildah's: the image's own file is left, none is made). ``forwarder``
    (slirp4netns's 10.0.2.3) stands in for a loopback nameserver where given."""
    if list(dns) == ["none"]:
        return None
    if mode == "none":
        return ""
    text = read_host_file("/etc/resolv.conf") if host_text is None else host_text
    if mode != "host":
        lines = []
        for ln in text.splitlines():
            words = ln.split()
            if words[:1] == ["nameserver"] and len(words) > 1 and _is_loopback(words[1]):
                if forwarder:
                    if f"nameserver {forwarder}" not in lines:
                        lines.append(f"nameserver {forwarder}")
                elif gateway and dns_listens_on(gateway):
                    lines.append(f"nameserver {gateway}")
                continue
            lines.append(ln)
        if not _nameservers("\n".join(lines)):
            lines += [f"nameserver {ns}" for ns in _nameservers(read_host_file(SYSTEMD_UPSTREAM))
                      if not _is_loopback(ns)]
        text = "\n".join(lines) + ("\n" if lines else "")
    given = {"nameserver": [f"nameserver {d}" for d in dns],
             "search": [f"search {' '.join(dns_search)}"] if dns_search else [],
             "options": [f"options {' '.join(dns_options)}"] if dns_options else []}
    if not any(given.values()):
        return text
    kept = [ln for ln in text.splitlines() if not (ln.split()[:1] and given.get(ln.split()[0]))]
    return "\n".join([*kept, *given["nameserver"], *given["search"], *given["options"]]) + "\n"


def hosts_file(add_hosts: Sequence[str], hostname: str, address: str = "127.0.0.1",
               gateway: str | None = None, host_text: str | None = None) -> str:
    """The step's /etc/hosts: the host's, ``NAME:IP`` entries, then ``hostname`` on ``address``."""
    text = read_host_file("/etc/hosts") if host_text is None else host_text
    text = text or "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
    if not text.endswith("\n"):
        text += "\n"
    for item in add_hosts:
        name, sep, ip = item.partition(":")
        if not sep or not name or not ip:
            raise ConfigError(f"invalid --add-host {item!r} (use NAME:IP)")
        if ip == "host-gateway":
            ip = gateway or "127.0.0.1"
        text += f"{ip}\t{name}\n"
    return text + f"{address}\t{hostname}\n"


__all__ = ["read_host_file", "dns_listens_on", "check_dns", "resolv_conf", "hosts_file"]
