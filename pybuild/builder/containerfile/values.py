"""Instruction values checked as BuildKit checks them: ``--chmod``, EXPOSE ports, ``RUN --mount``
options, git sources of ADD.

Why apart from instructions.py: these are pure value parsers, used when a node is typed, again
when an expanded step is checked (evaluate.py, check.py) and by the buildah verbs
(``config --port``); none needs the instruction types. ``InstructionValueError`` carries
BuildKit's message; the caller adds file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pybuild.builder.containerfile.golang import go_quote as go_q
from pybuild.lazyre import lazy

__all__ = ["InstructionValueError", "MountSpec", "validate_chmod", "expose_ports", "parse_mount", "is_git_source"]


class InstructionValueError(Exception):
    """A value BuildKit refuses, in BuildKit's words; typing a node adds file and line."""


_Err = InstructionValueError

@dataclass(frozen=True, kw_only=True)
class MountSpec:
    """One ``RUN --mount``: BuildKit's options, validated, unexpanded."""

    type: str = "bind"
    target: str = ""
    source: str | None = None
    from_: str | None = None
    readonly: bool = True
    id: str | None = None
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None  # tmpfs, bytes
    env: str | None = None  # secret exposed as an environment variable
    raw: str = ""  # the option text as written (for cache keys and messages)
    deferred: bool = False  # a value holds a variable: parsed and checked once expanded



_OCTAL = lazy(r"[0-7]{1,4}\Z")
_SYMBOLIC = lazy(r"[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+\Z")


def validate_chmod(value: str) -> None:
    """``--chmod``: octal (``755``, ``0644``) or symbolic (``u+x,g-w``), as BuildKit accepts."""
    if _OCTAL.match(value):
        return
    if value and all(_SYMBOLIC.match(part) for part in value.split(",")):
        return
    raise _Err(f"invalid chmod parameter: {value!r} (octal like 0755 or symbolic like u+x)")


_PROTOCOLS = ("tcp", "udp", "sctp")


def expose_ports(ports: list[str] | tuple[str, ...]) -> list[str]:
    """Expanded EXPOSE words -> Docker's ExposedPorts keys (``80/tcp``; ranges expanded).

    BuildKit's portSpecs.parsePort: ``[ip:][hostPort:]port[-end][/proto]``, ports 0-65535;
    raises ValueError with BuildKit's message."""
    out: list[str] = []
    for spec in ports:
        parts = spec.split(":")
        ip = ":".join(parts[:-2])
        host_port = parts[-2] if len(parts) > 1 else ""
        port, _, proto = parts[-1].partition("/")
        if not port:
            raise ValueError(f"invalid port: {go_q(spec)}: no port specified")
        if proto.lower() not in ("", *_PROTOCOLS):
            raise ValueError(f"invalid port: {go_q(spec)}: invalid proto: {proto}")
        if ip and not _is_ip(ip):
            raise ValueError(f"invalid IP address: {ip}")
        start, end = _port_range(port, "containerPort")
        if host_port:
            hstart, hend = _port_range(host_port, "hostPort")
            if end - start != hend - hstart and end != start:
                raise ValueError(f"invalid ranges specified for container and host Ports: {port} and {host_port}")
        for p in range(start, end + 1):
            key = f"{p}/{proto.lower() or 'tcp'}"
            if key not in out:
                out.append(key)
    return out


_GO_UINT = lazy(r"[+-]?[0-9]+\Z")


def _port_range(text: str, what: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    numbers = [start] if not sep or start == end else [start, end]
    if not all(_GO_UINT.match(n) and 0 <= int(n) <= 65535 for n in numbers):
        raise ValueError(f"invalid {what}: {text}")
    lo, hi = int(numbers[0]), int(numbers[-1])
    if hi < lo:
        raise ValueError(f"invalid {what}: {text}")
    return lo, hi


def _is_ip(text: str) -> bool:
    import ipaddress

    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SIZE = lazy(r"([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)i?b?\Z", re.I)


def _parse_size(value: str) -> int:
    m = _SIZE.match(value.strip())
    if not m:
        raise _Err(f"invalid size value {value!r} for tmpfs mount")
    mult = 1024 ** " kmgtp".index((m.group(2) or " ").lower())
    return int(float(m.group(1)) * mult)


def _bool_value(key: str, value: str | None) -> bool:
    if value is None:
        return True
    v = value.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise _Err(f"invalid value for {key}: {value}")


def parse_mount(text: str, expand: Callable[[str], str] | None = None) -> MountSpec:
    """One ``--mount`` value (CSV of key=value) -> MountSpec, with BuildKit's checks.

    As BuildKit's parseMount: without ``expand`` (when the instruction is typed), a value
    holding a variable defers the whole mount to its step (``deferred``; ``from=`` may hold
    none); with ``expand`` (the stage's ARG/ENV), every value is expanded, then checked."""
    import csv  # only for RUN --mount

    try:
        fields_ = next(csv.reader([text]), [])
    except csv.Error as e:
        raise _Err(f"invalid mount {text!r}: {e}") from None
    if expand is None:
        for f in fields_:
            key, has_value, value = f.partition("=")
            if has_value and "$" in value[:-1]:
                if key.strip().lower() == "from":
                    raise _Err("'from' doesn't support variable expansion, define alias stage instead")
                return MountSpec(raw=text, deferred=True)
    else:
        fields_ = [f"{k}={expand(v)}" if sep else f for k, sep, v in (f.partition("=") for f in fields_)]
    opts: dict[str, Any] = {}
    mount_type = "bind"
    for f in fields_:
        key, has_value, value = f.partition("=")
        key = key.strip().lower()
        if key == "type":
            if value.lower() not in _MOUNT_TYPES:
                raise _Err(f"unsupported mount type {value!r}")
            mount_type = value.lower()
            break
    ro: bool | None = None
    seen_keys: list[str] = []
    for f in fields_:
        key, has_value, value = f.partition("=")
        key = key.strip().lower()
        val: str | None = value if has_value else None
        seen_keys.append(key)
        if key == "type":
            continue
        if key in ("readonly", "ro"):
            ro = _bool_value(key, val)
        elif key in ("readwrite", "rw"):
            ro = not _bool_value(key, val)
        elif key == "required":
            if mount_type not in ("secret", "ssh"):
                raise _Err(f"unexpected key 'required' for mount type {mount_type}")
            opts["required"] = _bool_value(key, val)
        elif val is None:
            raise _Err(f"invalid field '{f}' must be a key=value pair")
        elif key in ("target", "dst", "destination"):
            opts["target"] = val
        elif key in ("source", "src"):
            opts["source"] = val
        elif key == "from":
            if mount_type in ("tmpfs", "secret", "ssh"):
                raise _Err(f"'from' is not supported for mount type {mount_type}")
            opts["from_"] = val
        elif key == "id":
            opts["id"] = val
        elif key == "sharing":
            if mount_type != "cache":
                raise _Err("sharing is only allowed for cache mounts")
            if val not in ("shared", "private", "locked"):
                raise _Err(f"unsupported sharing value {val!r}")
            opts["sharing"] = val
        elif key == "mode":
            if mount_type not in ("cache", "secret", "ssh"):
                raise _Err(f"unexpected key 'mode' for mount type {mount_type}")
            try:
                opts["mode"] = int(val, 8)
            except ValueError:
                raise _Err(f"invalid value {val} for mode") from None
        elif key in ("uid", "gid"):
            if mount_type not in ("cache", "secret", "ssh"):
                raise _Err(f"unexpected key '{key}' for mount type {mount_type}")
            try:
                opts[key] = int(val, 10)
            except ValueError:
                raise _Err(f"invalid value {val} for {key}") from None
        elif key == "size":
            if mount_type != "tmpfs":
                raise _Err(f"unexpected key 'size' for mount type {mount_type}")
            opts["size"] = _parse_size(val)
        elif key == "env":
            if mount_type != "secret":
                raise _Err(f"unexpected key 'env' for mount type {mount_type}")
            opts["env"] = val
        else:
            raise _Err(f"unexpected key '{key}' in '{f}'")
    target = opts.pop("target", "")
    if mount_type == "secret":
        if not opts.get("id") and not target and not opts.get("env"):
            raise _Err("one of id, target or env is required for a secret mount")
        if not opts.get("id"):
            opts["id"] = target.rstrip("/").rsplit("/", 1)[-1] if target else opts["env"]
        if not target and not opts.get("env"):
            target = "/run/secrets/" + opts["id"]
    elif mount_type == "ssh":
        opts.setdefault("id", "default")
        if not target:
            target = "/run/buildkit/ssh_agent.0"
    elif not target:
        raise _Err(f"mount type={mount_type} requires a target (target=/path)")
    if mount_type == "cache" and "id" not in opts:
        opts["id"] = target
    readonly = ro if ro is not None else mount_type == "bind"
    if mount_type in ("secret", "ssh") and ro is None:
        readonly = True
    return MountSpec(type=mount_type, target=target, readonly=readonly, raw=text, **opts)


def is_git_source(src: str) -> bool:
    """An ADD source that BuildKit fetches with git (``git@…``, ``git://``, ``*.git``, ``…git#ref``)."""
    s = src.lower()
    base = s.split("#", 1)[0]
    return (s.startswith("git@") or s.startswith("git://")
            or (("://" in s) and (base.endswith(".git") or "/.git" in base))
            or (s.startswith("github.com/") and base.count("/") >= 2))
