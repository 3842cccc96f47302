"""registries.conf (v2 TOML): short-name search, per-registry insecure/blocked, mirrors.

Read the way containers/image reads it: ``$CONTAINERS_REGISTRIES_CONF`` (or an explicit
path) replaces the defaults; otherwise ``~/.config/containers/registries.conf`` wins over
``/etc/containers/registries.conf`` (the first that exists is used), then the drop-ins
``*.conf`` of ``/etc/containers/registries.conf.d`` and ``~/.config/containers/
registries.conf.d`` in name order: a drop-in's search list replaces the one before, its
``[[registry]]`` tables replace those of the same prefix and add the others
(containers-registries.conf.d(5)). A missing file means Docker's behaviour: short names
go to docker.io, everything else as written.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pybuild.errors import ConfigError
from pybuild.oci.limits import containers_config_path

SYSTEM_PATH = "/etc/containers/registries.conf"
SYSTEM_DROPIN_DIR = "/etc/containers/registries.conf.d"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"  # all | digest-only | tag-only


@dataclass(frozen=True)
class RegistryEntry:
    """One ``[[registry]]`` table: names under ``prefix`` live at ``location``."""

    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()
    mirror_by_digest_only: bool = False


@dataclass(frozen=True)
class RegistriesConfig:
    unqualified_search_registries: tuple[str, ...] = ()
    registries: tuple[RegistryEntry, ...] = ()
    source: str | None = None

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix matches ``name`` (host/repo) longest, as containers/image picks."""
        best: RegistryEntry | None = None
        for entry in self.registries:
            p = entry.prefix
            if name == p or name.startswith(p + "/") or name.startswith(p + ":") or name.startswith(p + "@"):
                if best is None or len(p) > len(best.prefix):
                    best = entry
        return best

    def rewrite(self, name: str) -> tuple[str, RegistryEntry | None]:
        """``name`` (host/repo) with its prefix replaced by the entry's location."""
        entry = self.find(name)
        if entry is None:
            return name, None
        return entry.location + name[len(entry.prefix):], entry

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` (a location, maybe with port) is marked ``insecure = true``."""
        for entry in self.registries:
            if entry.location.split("/", 1)[0] == host and entry.insecure:
                return True
            for m in entry.mirrors:
                if m.location.split("/", 1)[0] == host and m.insecure:
                    return True
        return False


def config_path(override: str | None = None) -> str | None:
    """The registries.conf that applies, or None when there is none."""
    return containers_config_path("registries.conf", "CONTAINERS_REGISTRIES_CONF", SYSTEM_PATH, override)


def load(override: str | None = None) -> RegistriesConfig:
    """Parse the registries.conf that applies; a missing default file is an empty config.

    An explicitly named file (argument or environment) that does not exist is an error:
    the user asked for it.
    """
    explicit = bool(override or os.environ.get("CONTAINERS_REGISTRIES_CONF"))
    path = config_path(override)
    config = RegistriesConfig()
    if path is not None:
        try:
            config = parse(_read_toml(path), path)
        except FileNotFoundError:
            if explicit:
                raise ConfigError("registries.conf not found", where=path) from None
    if explicit:
        return config  # a file the user named stands alone
    for dropin in dropin_paths():
        try:
            config = merge(config, parse(_read_toml(dropin), dropin))
        except FileNotFoundError:
            continue
    return config


def _read_toml(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read registries.conf: {e}", where=path) from None


def dropin_paths() -> list[str]:
    """The drop-in files that apply, in the order they are read."""
    out: list[str] = []
    user_dir = Path(os.path.expanduser("~")) / ".config" / "containers" / "registries.conf.d"
    for directory in (Path(SYSTEM_DROPIN_DIR), user_dir):
        if directory.is_dir():
            out.extend(str(p) for p in sorted(directory.glob("*.conf")) if p.is_file())
    return out


def merge(base: RegistriesConfig, dropin: RegistriesConfig) -> RegistriesConfig:
    """``base`` with ``dropin`` laid over it (a search list replaces; registries by prefix)."""
    search = dropin.unqualified_search_registries or base.unqualified_search_registries
    replaced = {e.prefix for e in dropin.registries}
    entries = tuple(e for e in base.registries if e.prefix not in replaced) + dropin.registries
    return RegistriesConfig(search, entries, dropin.source or base.source)


def parse(data: dict[str, object], source: str | None = None) -> RegistriesConfig:
    """Build a config from parsed TOML (separate from I/O so tests feed dicts)."""
    where = source or "registries.conf"
    search = data.get("unqualified-search-registries", [])
    if not isinstance(search, list) or not all(isinstance(s, str) for s in search):
        raise ConfigError("unqualified-search-registries must be a list of strings", where=where)
    entries: list[RegistryEntry] = []
    raw_entries = data.get("registry", [])
    if not isinstance(raw_entries, list):
        raise ConfigError("[[registry]] must be an array of tables", where=where)
    for raw in raw_entries:
        if not isinstance(raw, dict):
            raise ConfigError("[[registry]] must be an array of tables", where=where)
        location = str(raw.get("location", "")).rstrip("/")
        prefix = str(raw.get("prefix") or location).rstrip("/")
        if not prefix:
            raise ConfigError("a [[registry]] needs a location or a prefix", where=where)
        if not location:
            location = prefix
        mirrors = []
        for m in raw.get("mirror", []) or []:
            if not isinstance(m, dict) or not m.get("location"):
                raise ConfigError(f"a mirror of {prefix} needs a location", where=where)
            mirrors.append(Mirror(location=str(m["location"]).rstrip("/"),
                                  insecure=bool(m.get("insecure", False)),
                                  pull_from_mirror=str(m.get("pull-from-mirror", "all"))))
        entries.append(RegistryEntry(prefix=prefix, location=location,
                                     insecure=bool(raw.get("insecure", False)),
                                     blocked=bool(raw.get("blocked", False)),
                                     mirrors=tuple(mirrors),
                                     mirror_by_digest_only=bool(raw.get("mirror-by-digest-only", False))))
    return RegistriesConfig(tuple(str(s) for s in search), tuple(entries), source)


def is_loopback(host: str) -> bool:
    """localhost or 127.0.0.0/8 / ::1 (a port may follow): plain http allowed, as Docker does."""
    h = host
    if h.startswith("["):
        h = h[1:h.find("]")] if "]" in h else h
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def api_host(registry: str) -> str:
    """Where a registry's API answers: docker.io's lives at registry-1.docker.io."""
    if registry in (DOCKER_HUB, "index.docker.io"):
        return DOCKER_HUB_API
    return registry


def is_short_name(name: str) -> bool:
    """True when ``name`` names no registry (``busybox``, ``library/busybox``)."""
    first, sep, _ = name.partition("/")
    if not sep:
        return True
    return not ("." in first or ":" in first or first == "localhost")


__all__ = ["Mirror", "RegistryEntry", "RegistriesConfig", "config_path", "load", "parse",
           "is_loopback", "api_host", "is_short_name", "DOCKER_HUB", "DOCKER_HUB_API"]

