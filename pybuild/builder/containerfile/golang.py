"""Go's spellings that BuildKit's messages and Docker's configs use: ``strconv.Quote`` and
``time.ParseDuration``.

A leaf (it imports nothing of pybuild but the leaf lazyre), so the parser, the variable expander, the
instructions and the buildah verbs (``config --healthcheck-interval``) share one
grammar and one quoting, byte for byte as Go has them.
"""

from __future__ import annotations

from pybuild.lazyre import lazy

_GO_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _is_print(ch: str) -> bool:
    import unicodedata

    if 0xD800 <= ord(ch) <= 0xDFFF:
        return False
    return unicodedata.category(ch)[0] in "LMNPS"


def go_quote(s: str) -> str:
    """Go's strconv.Quote, so dumps compare byte for byte with BuildKit's."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == " " or (o >= 0x20 and _is_print(ch)):
            out.append(ch)
        elif ch in _GO_ESC:
            out.append(_GO_ESC[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                   "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = lazy(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (``1m30s``, ``1.5h``, ``300ms``, ``0``)."""
    s = text
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        unit = _DURATION_UNITS.get(m.group(2))
        if unit is None:
            raise ValueError(f"time: unknown unit {go_quote(m.group(2))} in duration {go_quote(text)}")
        num = m.group(1)
        whole, _, frac = num.partition(".")
        total += int(whole or "0") * unit
        if frac:
            total += int(frac) * unit // (10 ** len(frac))
        pos = m.end()
    if total > 2**63 - 1:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    return -total if neg else total


__all__ = ["go_quote", "parse_duration"]
