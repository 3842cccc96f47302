"""The template functions: Go's builtins that format strings use, and podman's ``json`` and ``join``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pybuild.gotemplate.printing import go_json, go_print
from pybuild.gotemplate.values import ANY, BOOL, INT, STRING, Map, Ptr, Slice, Struct, Value, truth, type_name


class CallError(Exception):
    """A function refused its arguments (Go: "error calling index: ...")."""
    pass


class ArgCountError(Exception):
    """A function got too few or too many arguments."""
    pass


def _nargs(args: list[Value], want: int, at_least: bool = False) -> None:
    if len(args) < want or (not at_least and len(args) != want):
        raise ArgCountError(f"want {'at least ' if at_least else ''}{want} got {len(args)}")


def _index(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    v = args[0]
    for key in args[1:]:
        t = v.type.elem if isinstance(v.type, Ptr) else v.type
        if isinstance(v.data, list):
            if not isinstance(key.data, int) or isinstance(key.data, bool):
                raise CallError(f"cannot index slice/array with type {type_name(key.type)}")
            if not 0 <= key.data < len(v.data):
                raise CallError(f"index out of range: {key.data}")
            v = Value(v.data[key.data], t.elem if isinstance(t, Slice) else ANY)
        elif isinstance(v.data, dict) and not isinstance(t, Struct):
            elem = t.elem if isinstance(t, Map) else ANY
            v = Value(v.data[key.data], elem) if key.data in v.data else Value(None, elem)
        elif v.data is None and isinstance(t, Map | Slice):
            if isinstance(t, Slice):
                raise CallError(f"index out of range: {key.data}")
            v = Value(None, t.elem)
        else:
            raise CallError(f"can't index item of type {type_name(v.type)}")
    return v


def _len(args: list[Value]) -> Value:
    _nargs(args, 1)
    d = args[0].data
    if isinstance(d, list | dict | str):
        return Value(len(d), INT)
    if d is None and isinstance(args[0].type, Slice | Map):
        return Value(0, INT)
    raise CallError(f"len of type {type_name(args[0].type)}")


def _printf(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    fmt, rest = str(args[0].data), list(args[1:])

    def verb(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        if not rest:
            return f"%!{m.group(0)[-1]}(MISSING)"
        v = rest.pop(0)
        kind = m.group(0)[-1]
        if kind == "q":
            return json.dumps(go_print(v))
        if kind == "d" and isinstance(v.data, int):
            return str(v.data)
        return go_print(v)

    text = re.sub(r"%[-+# 0]*\d*(?:\.\d+)?[vsdqtx%]", verb, fmt)
    return Value(text, STRING)


def _join(args: list[Value]) -> Value:
    _nargs(args, 2)
    items = args[0].data or []
    elem = args[0].type.elem if isinstance(args[0].type, Slice) else ANY
    return Value(str(args[1].data).join(go_print(Value(x, elem), 1) for x in items), STRING)


def _eq(args: list[Value]) -> Value:
    _nargs(args, 2, at_least=True)
    return Value(any(args[0].data == a.data for a in args[1:]), BOOL)


def _compare(test: Callable[[Any, Any], bool]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        _nargs(args, 2)
        a, b = args[0].data, args[1].data
        if type(a) is not type(b) or not isinstance(a, int | float | str):
            raise CallError("incompatible types for comparison")
        return Value(test(a, b), BOOL)
    return call


def _and(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    for a in args:
        if not truth(a):
            return a
    return args[-1]


def _or(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    for a in args:
        if truth(a):
            return a
    return args[-1]


def _one(fn: Callable[[Value], Value]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        _nargs(args, 1)
        return fn(args[0])
    return call


FUNCS: dict[str, Callable[[list[Value]], Value]] = {
    "index": _index,
    "len": _len,
    "json": _one(lambda v: Value(go_json(v), STRING)),
    "join": _join,
    "lower": _one(lambda v: Value(go_print(v).lower(), STRING)),
    "upper": _one(lambda v: Value(go_print(v).upper(), STRING)),
    "print": lambda args: Value("".join(go_print(a) for a in args), STRING),
    "println": lambda args: Value(" ".join(go_print(a) for a in args) + "\n", STRING),
    "printf": _printf,
    "eq": _eq,
    "ne": lambda args: Value(not _eq(args).data, BOOL),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "not": _one(lambda v: Value(not truth(v), BOOL)),
    "and": _and,
    "or": _or,
}
