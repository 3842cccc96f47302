"""Values printed as Go's fmt prints them: ``[a b]``, ``map[k:v]``, ``{f g}``, times, durations."""

from __future__ import annotations

import json
import re
from typing import Any

from pybuild.gotemplate.values import Map, Ptr, Slice, Struct, Value, field_value


def go_print(v: Value, depth: int = 0) -> str:
    """``fmt.Sprint`` of ``v``; at depth 0 pointers are followed, as text/template does."""
    if not v.valid:
        return "<no value>"
    t, d = v.type, v.data
    if isinstance(t, Ptr):
        if d is None:
            return "<nil>"
        if isinstance(t.elem, Struct) and depth > 0:
            return "&" + go_print(Value(d, t.elem), depth + 1)
        return go_print(Value(d, t.elem), depth)
    if isinstance(t, Struct):
        src = d if isinstance(d, dict) else {}
        return "{" + " ".join(go_print(field_value(src, f), depth + 1) for f in t.fields) + "}"
    if isinstance(t, Slice):
        items = d if isinstance(d, list) else []
        return "[" + " ".join(go_print(Value(x, t.elem), depth + 1) for x in items) + "]"
    if isinstance(t, Map):
        entries = d if isinstance(d, dict) else {}
        return "map[" + " ".join(f"{k}:{go_print(Value(entries[k], t.elem), depth + 1)}"
                                 for k in sorted(entries)) + "]"
    return _print_scalar(t.go, d, depth)


def _print_scalar(go: str, d: Any, depth: int) -> str:
    if go == "bool":
        return "true" if d else "false"
    if go == "int64":
        return str(int(d or 0))
    if go == "time.Time":
        return go_time(d)
    if go == "time.Duration":
        return go_duration(int(d or 0))
    if go in ("string", "digest.Digest"):
        return "" if d is None else str(d)
    return _print_any(d, depth)


def _print_any(d: Any, depth: int) -> str:
    """An ``interface{}`` holding what encoding/json decodes into one."""
    if d is None:
        return "<nil>"
    if isinstance(d, bool):
        return "true" if d else "false"
    if isinstance(d, dict):
        return "map[" + " ".join(f"{k}:{_print_any(d[k], depth + 1)}" for k in sorted(d)) + "]"
    if isinstance(d, list):
        return "[" + " ".join(_print_any(x, depth + 1) for x in d) + "]"
    if isinstance(d, float):
        return str(int(d)) if d.is_integer() and abs(d) < 1e21 else repr(d)
    return str(d)


def go_time(value: Any) -> str:
    """time.Time.String() of an RFC 3339 text: ``2026-12-01 23:40:03.244822563 +0000 UTC``."""
    if not value:
        return "0001-01-01 00:00:00 +0000 UTC"
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)", str(value))
    if not m:
        return str(value)
    day, clock, frac, zone = m.groups()
    frac = (frac or "").rstrip("0")
    offset = "+0000 UTC" if zone in ("Z", "z") else f"{zone.replace(':', '')} {zone.replace(':', '')}"
    return f"{day} {clock}{'.' + frac if frac else ''} {offset}"


def go_duration(ns: int) -> str:
    """time.Duration.String(): ``1m30s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    h, rest = divmod(ns, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    s = _trim(rest / 1_000_000_000, 9)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def _trim(x: float, digits: int = 6) -> str:
    return f"{x:.{digits}f}".rstrip("0").rstrip(".")


def go_json(v: Value) -> str:
    """podman's ``json`` function: encoding/json's compact form, <, > and & escaped."""
    text = json.dumps(None if not v.valid else v.data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
