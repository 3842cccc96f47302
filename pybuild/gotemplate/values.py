"""Go types (what a field is called, where its JSON lives, how it prints) and typed values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scalar:
    """string, bool, int64, time.Time, time.Duration, digest.Digest, or interface {} (``go``)."""

    go: str


@dataclass(frozen=True)
class Slice:
    elem: GoType


@dataclass(frozen=True)
class Map:
    elem: GoType


@dataclass(frozen=True)
class Ptr:
    elem: GoType


@dataclass(frozen=True)
class Field:
    name: str  # the Go name templates use
    key: str | None  # the JSON key holding it (None: an embedded struct read at the same level)
    type: GoType


@dataclass(frozen=True)
class Struct:
    name: str  # as Go names it in errors: "v1.ImageConfig"
    fields: tuple[Field, ...] = ()

    def find(self, name: str) -> Field | None:
        """The field as Go resolves it: its own first, then promoted from embedded structs."""
        for f in self.fields:
            if f.name == name and f.key is not None:
                return f
        for f in self.fields:
            if f.key is None and isinstance(f.type, Struct):
                if f.name == name:
                    return f
                inner = f.type.find(name)
                if inner is not None:
                    return inner
        return None


GoType = Scalar | Slice | Map | Ptr | Struct

STRING = Scalar("string")
BOOL = Scalar("bool")
INT = Scalar("int64")
TIME = Scalar("time.Time")
DURATION = Scalar("time.Duration")
DIGEST = Scalar("digest.Digest")
ANY = Scalar("interface {}")
EMPTY = Struct("struct {}")


def type_name(t: GoType) -> str:
    if isinstance(t, Scalar):
        return t.go
    if isinstance(t, Struct):
        return t.name
    if isinstance(t, Slice):
        return "[]" + type_name(t.elem)
    if isinstance(t, Map):
        return "map[string]" + type_name(t.elem)
    return "*" + type_name(t.elem)


@dataclass(frozen=True)
class Value:
    """A value and its Go type; ``valid=False`` is Go's missing map entry (prints ``<no value>``)."""

    data: Any
    type: GoType = ANY
    valid: bool = True


NO_VALUE = Value(None, ANY, valid=False)


def field_value(src: dict[str, Any], f: Field) -> Value:
    if f.key is None:
        return Value(src, f.type)
    return Value(src.get(f.key), f.type)


def truth(v: Value) -> bool:
    """Go's truth: a struct always; otherwise not the zero value, nor an empty slice, map or string."""
    if not v.valid:
        return False
    if isinstance(v.type, Struct):
        return True
    if v.data is None:
        return False
    if isinstance(v.data, list | dict | str):
        return len(v.data) > 0
    return bool(v.data)
