"""Bounds on what a stranger's registry or layer may cost: time, bytes, expansion.

A registry that accepts a connection and never answers, a body that stalls or never ends,
a descriptor claiming a petabyte, a small gzip that expands to terabytes: each must stop
with one line, not after minutes or a full disk. The defaults below are what a user pulling
real images accepts; a containers.conf-style TOML file changes them::

    # $PYBUILD_CONF, else ~/.config/containers/pybuild.conf, else /etc/containers/pybuild.conf
    [registry]
    connect_timeout = "30s"     # TCP connect and TLS handshake
    idle_timeout = "30s"        # no byte received (or sent) for this long ends the request
    blob_timeout = "1h"         # the whole transfer of one blob, resumes included
    max_blob_size = "64GiB"     # a descriptor claiming more is refused before any byte moves
    retry = 3                   # retries of a failed request (buildah's --retry)
    retry_delay = "2s"          # fixed delay between them (unset: 0.5 s doubling, up to 10 s)

    [layers]
    max_size = "64GiB"          # uncompressed bytes of one layer
    max_ratio = 100             # uncompressed / compressed, checked once past ratio_floor
    ratio_floor = "1GiB"

Each key can also be set by the environment, ``PYBUILD_<TABLE>_<KEY>`` (e.g.
``PYBUILD_REGISTRY_IDLE_TIMEOUT=10s``), which wins over the file. Library callers pass
values directly (``RegistryOptions(idle_timeout=...)``, ``DecompressionLimits(...)``).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybuild.errors import ConfigError
from pybuild.lazyre import lazy

SYSTEM_PATH = "/etc/containers/pybuild.conf"
GiB = 1 << 30


@dataclass(frozen=True)
class TransferLimits:
    """Time and size bounds of registry traffic (seconds, bytes)."""

    connect_timeout: float = 30.0
    idle_timeout: float = 30.0
    blob_timeout: float = 3600.0
    max_blob_size: int = 64 * GiB
    retry: int | None = None  # None: RetryPolicy's default
    retry_delay: float | None = None


@dataclass(frozen=True)
class DecompressionLimits:
    """Bounds that stop a decompression bomb (a small blob expanding without end)."""

    max_size: int = 64 * GiB
    max_ratio: float = 100.0
    ratio_floor: int = 1 * GiB


@dataclass(frozen=True)
class Limits:
    registry: TransferLimits = TransferLimits()
    layers: DecompressionLimits = DecompressionLimits()
    source: str | None = None  # the file read, for messages


_DURATION = lazy(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s|m|h)?\s*$")
_SIZE = lazy(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgtp]i?b?|b)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5,
               "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40, "pi": 1 << 50}


def parse_duration(value: object, where: str) -> float:
    """``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"`` or a number of seconds; must be positive."""
    if isinstance(value, bool):
        raise ConfigError(f"{value!r} is not a duration (e.g. \"30s\")", where=where)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigError(f"{value!r} is not a duration (e.g. \"30s\", \"500ms\", \"2m\")", where=where)
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{value!r} must be more than zero", where=where)
    return seconds


def parse_size(value: object, where: str) -> int:
    """``"64GiB"``, ``"512MB"``, ``"1g"`` or a number of bytes; must be positive."""
    if isinstance(value, bool):
        raise ConfigError(f"{value!r} is not a size (e.g. \"64GiB\")", where=where)
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise ConfigError(f"{value!r} is not a size (e.g. \"64GiB\", \"512MB\")", where=where)
        unit = (m.group(2) or "").lower().removesuffix("b")
        size = int(float(m.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ConfigError(f"{value!r} must be more than zero", where=where)
    return size


def _parse_count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ConfigError(f"{value!r} is not a whole number", where=where)
    return int(value)


def _parse_ratio(value: object, where: str) -> float:
    try:
        ratio = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{value!r} is not a number", where=where) from None
    if isinstance(value, bool) or ratio < 1:
        raise ConfigError(f"{value!r} must be a number of at least 1", where=where)
    return ratio


_PARSERS: dict[str, dict[str, Any]] = {
    "registry": {"connect_timeout": parse_duration, "idle_timeout": parse_duration,
                 "blob_timeout": parse_duration, "max_blob_size": parse_size,
                 "retry": _parse_count, "retry_delay": parse_duration},
    "layers": {"max_size": parse_size, "max_ratio": _parse_ratio, "ratio_floor": parse_size},
}


def containers_config_path(filename: str, env_var: str, system_path: str,
                           override: str | None = None) -> str | None:
    """Where a containers-style config lives, as containers/image looks: an explicit path,
    then ``$ENV_VAR``, then ``~/.config/containers/FILENAME``, then the system file."""
    explicit = override or os.environ.get(env_var)
    if explicit:
        return explicit
    user = Path(os.path.expanduser("~")) / ".config" / "containers" / filename
    if user.is_file():
        return str(user)
    return system_path if os.path.isfile(system_path) else None


def config_path() -> str | None:
    """The pybuild.conf that applies: ``$PYBUILD_CONF``, the user's, the system's, or none."""
    return containers_config_path("pybuild.conf", "PYBUILD_CONF", SYSTEM_PATH)


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("configuration file not found", where=path) from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the configuration: {e}", where=path) from None


def parse(data: dict[str, Any], source: str | None = None, environ: dict[str, str] | None = None) -> Limits:
    """Limits from parsed TOML laid over the defaults, then ``PYBUILD_<TABLE>_<KEY>`` over that."""
    where = source or "pybuild.conf"
    values: dict[str, dict[str, Any]] = {"registry": {}, "layers": {}}
    for table, raw in data.items():
        if table not in _PARSERS:
            raise ConfigError(f"unknown table [{table}] (known: registry, layers)", where=where)
        if not isinstance(raw, dict):
            raise ConfigError(f"[{table}] must be a table", where=where)
        for key, value in raw.items():
            parser = _PARSERS[table].get(key)
            if parser is None:
                known = ", ".join(_PARSERS[table])
                raise ConfigError(f"unknown key {key!r} in [{table}] (known: {known})", where=where)
            values[table][key] = parser(value, f"{where}: [{table}] {key}")
    env = os.environ if environ is None else environ
    for table, parsers in _PARSERS.items():
        for key, parser in parsers.items():
            name = f"PYBUILD_{table}_{key}".upper()
            if env.get(name):
                values[table][key] = parser(env[name], name)
    return Limits(TransferLimits(**values["registry"]), DecompressionLimits(**values["layers"]), source)


_cache: tuple[tuple[Any, ...], Limits] | None = None


def current() -> Limits:
    """The limits in force now (file and environment); re-read only when either changed."""
    global _cache
    path = config_path()
    stamp: Any = None
    if path is not None:
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = "missing"
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PYBUILD_")))
    key = (path, stamp, env)
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    limits = parse(_read(path) if path is not None else {}, path)
    _cache = (key, limits)
    return limits


def describe(value: float) -> str:
    """A duration as a user wrote it: 30 s, 1.5 s, 500 ms."""
    if value < 1:
        return f"{value * 1000:g} ms"
    return f"{value:g} s"


def human_size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


__all__ = ["TransferLimits", "DecompressionLimits", "Limits", "current", "parse", "config_path",
           "parse_duration", "parse_size", "describe", "human_size"]
