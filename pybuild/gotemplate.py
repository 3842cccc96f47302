"""Go's text/template, the part ``--format`` users write, over JSON-shaped Python values.

buildah and podman format with Go templates over Go structs: ``{{.OCIv1.Config.Env}}`` names
Go fields (not the JSON keys ``config``/``Env``), and values print as Go's fmt prints them
(``[A=1 B=2]``, ``map[k:v]``, ``{layers [sha256:...]}``, ``<no value>``, ``<nil>``). So a value
here travels with its Go type (:class:`Struct`, :class:`Slice`, :class:`Map`, :class:`Ptr`,
:class:`Scalar`), which maps field names to JSON keys and says how it prints; data without a
type prints as Go prints an ``interface{}`` holding decoded JSON.

Supported: text, ``{{pipeline}}``, fields and chains (``.A.B``, ``$x.A``, ``(index .L 0).A``),
``|`` pipes, ``{{- -}}`` trimming, comments, ``if``/``else if``/``else``, ``range`` (with
``$i, $v :=``), ``with``, ``end``; functions ``index``, ``len``, ``json``, ``join``, ``lower``,
``upper``, ``print``, ``printf``, ``println``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``,
``not``, ``and``, ``or``. Not supported: method calls (``.Created.Year``), ``slice``, ``call``,
``break``/``continue``; a nested non-nil pointer prints as ``&{...}`` where Go prints an address. Errors
read as Go's (``template: format:1:8: executing "format" at <.A.Nope>: can't evaluate field
Nope in type T``) and raise :class:`TemplateError`. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pybuild.errors import UserError


class TemplateError(UserError):
    """A template that does not parse, or fails as it runs (one line, Go's wording)."""


# ------------------------------------------------------------------ Go types


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


# ------------------------------------------------------------------ printing as fmt does


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
        return "{" + " ".join(go_print(_field_value(src, f), depth + 1) for f in t.fields) + "}"
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


def _field_value(src: dict[str, Any], f: Field) -> Value:
    if f.key is None:
        return Value(src, f.type)
    return Value(src.get(f.key), f.type)


def _truth(v: Value) -> bool:
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


# ------------------------------------------------------------------ lexing and parsing

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<decl>:=)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),=])
""", re.X)


@dataclass
class Tok:
    kind: str
    text: str
    pos: int  # offset in the whole template


@dataclass
class Node:
    """An operand: a literal, a field/variable chain, a call or a parenthesised pipeline."""

    kind: str  # "lit" | "dot" | "field" | "var" | "call" | "pipe"
    pos: int
    text: str  # as Go shows it after "at <...>"
    value: Any = None
    names: list[str] = field(default_factory=list)  # a chain's field names
    args: list[Node] = field(default_factory=list)
    base: Node | None = None  # (pipeline).Field


@dataclass
class Pipeline:
    pos: int
    commands: list[list[Node]]
    decl: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Block:
    kind: str  # "text" | "action" | "if" | "range" | "with"
    text: str = ""
    pipe: Pipeline | None = None
    body: list[Block] = field(default_factory=list)
    orelse: list[Block] = field(default_factory=list)


FUNCTIONS = {"index", "len", "json", "join", "lower", "upper", "print", "printf", "println", "eq", "ne", "lt", "le",
             "gt", "ge", "not", "and", "or"}


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.src = text
        self.name = name

    def error(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{self.src.count(chr(10), 0, pos) + 1}: {msg}")

    def parse(self) -> list[Block]:
        self.items = list(self._split())
        self.i = 0
        body, end = self._list()
        if end is not None:
            raise self.error(end[1], f"unexpected {{{{{end[0]}}}}}")
        return body

    def _split(self) -> Any:
        """(kind, text, pos): text pieces and actions, with {{- -}} trimming applied."""
        pos, src = 0, self.src
        pending_trim = False
        while pos <= len(src):
            start = src.find("{{", pos)
            chunk = src[pos:] if start < 0 else src[pos:start]
            if pending_trim:
                chunk = chunk.lstrip()
            if start >= 0 and src.startswith("{{- ", start):
                chunk = chunk.rstrip()
            if chunk:
                yield "text", chunk, pos
            if start < 0:
                return
            inner_start = start + 2
            if src.startswith("- ", inner_start):
                inner_start += 1
            close = _find_close(src, inner_start)
            if close < 0:
                raise self.error(start, "unclosed action")
            inner_end, pending_trim = close, False
            if close - 2 >= inner_start and src[close - 2:close] in (" -", "\t-", "\n-"):
                inner_end, pending_trim = close - 1, True
            inner = src[inner_start:inner_end]
            if not inner.strip().startswith("/*"):
                yield "action", inner, inner_start
            elif not inner.strip().endswith("*/"):
                raise self.error(start, "unclosed comment")
            pos = close + 2
        return

    def _list(self) -> tuple[list[Block], tuple[str, int, Pipeline | None] | None]:
        """Blocks up to an {{end}} or {{else}} (returned, with its position), or the end of input."""
        out: list[Block] = []
        while self.i < len(self.items):
            kind, text, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                out.append(Block("text", text))
                continue
            toks = self._lex(text, pos)
            if not toks:
                raise self.error(pos, "missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                if head.text == "else" and len(toks) > 1 and toks[1].text == "if":
                    return out, ("else if", head.pos, self._pipeline(toks[2:], toks[1].pos))
                if len(toks) > 1:
                    raise self.error(toks[1].pos, f"unexpected {toks[1].text!r} in {head.text}")
                return out, (head.text, head.pos, None)
            if head.kind == "ident" and head.text in ("if", "range", "with"):
                block = Block(head.text, pipe=self._pipeline(toks[1:], head.pos, allow_decl=True))
                self._body(block, pos)
                out.append(block)
                continue
            out.append(Block("action", pipe=self._pipeline(toks, pos, allow_decl=True)))
        return out, None

    def _body(self, block: Block, pos: int) -> None:
        block.body, end = self._list()
        if end is None:
            raise self.error(len(self.src), "unexpected EOF")
        if end[0] == "else":
            block.orelse, end = self._list()
            if end is None:
                raise self.error(len(self.src), "unexpected EOF")
            if end[0] != "end":
                raise self.error(end[1], f"unexpected {{{{{end[0]}}}}}")
        elif end[0] == "else if":
            if block.kind != "if":
                raise self.error(end[1], f"unexpected {{{{else if}}}} in {block.kind}")
            nested = Block("if", pipe=end[2])
            self._body(nested, end[1])
            block.orelse = [nested]

    def _lex(self, text: str, base: int) -> list[Tok]:
        toks: list[Tok] = []
        i = 0
        while i < len(text):
            m = _TOKEN.match(text, i)
            if not m:
                raise self.error(base + i, f"unexpected {text[i]!r} in command")
            kind = m.lastgroup or ""
            if kind != "space":
                toks.append(Tok(kind, m.group(), base + i))
            i = m.end()
        return toks

    def _pipeline(self, toks: list[Tok], pos: int, allow_decl: bool = False) -> Pipeline:
        decl: list[str] = []
        if allow_decl:
            for n in (1, 2):  # $v := ... | $i, $v := ...
                shape = toks[:2 * n]
                if len(shape) == 2 * n and all(t.kind == "var" for t in shape[0::2]) \
                        and [t.text for t in shape[1::2]] == ([":="] if n == 1 else [",", ":="]):
                    decl = [t.text for t in shape[0::2]]
                    toks = toks[2 * n:]
                    break
        if not toks:
            raise self.error(pos, "missing value for command")
        commands: list[list[Node]] = [[]]
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.text == "|" and t.kind == "punct":
                if not commands[-1]:
                    raise self.error(t.pos, "missing value for command")
                commands.append([])
                i += 1
                continue
            node, i = self._operand(toks, i)
            commands[-1].append(node)
        if not commands[-1]:
            raise self.error(toks[-1].pos, "missing value for command")
        for cmd in commands:
            head = cmd[0]
            if head.kind == "lit" and isinstance(head.value, _Ident):
                if head.value.name not in FUNCTIONS:
                    raise self.error(head.pos, f"function {head.value.name!r} not defined".replace("'", '"'))
                head.kind = "call"
        text = " | ".join(" ".join(n.text for n in cmd) for cmd in commands)
        return Pipeline(pos, commands, decl, text)

    def _operand(self, toks: list[Tok], i: int) -> tuple[Node, int]:
        t = toks[i]
        node: Node
        if t.kind == "punct" and t.text == "(":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += {"(": 1, ")": -1}.get(toks[j].text if toks[j].kind == "punct" else "", 0)
                j += 1
            if depth:
                raise self.error(t.pos, "unclosed left paren")
            inner = self._pipeline(toks[i + 1:j - 1], t.pos)
            node = Node("pipe", t.pos, f"({inner.text})", value=inner)
            i = j
        elif t.kind == "field":
            node = Node("field", t.pos, t.text, names=[t.text[1:]])
            i += 1
        elif t.kind == "var":
            node = Node("var", t.pos, t.text, value=t.text)
            i += 1
        elif t.kind == "dot":
            node = Node("dot", t.pos, ".")
            i += 1
        elif t.kind in ("str", "raw"):
            node = Node("lit", t.pos, t.text, value=json.loads(t.text) if t.kind == "str" else t.text[1:-1])
            i += 1
        elif t.kind == "num":
            node = Node("lit", t.pos, t.text, value=float(t.text) if "." in t.text else int(t.text))
            i += 1
        elif t.kind == "ident":
            consts = {"true": True, "false": False, "nil": None}
            node = Node("lit", t.pos, t.text, value=consts[t.text] if t.text in consts else _Ident(t.text))
            i += 1
        else:
            raise self.error(t.pos, f"unexpected {t.text!r} in operand".replace("'", '"'))
        chain_pos = toks[i].pos if i < len(toks) and toks[i].kind == "field" else None
        names: list[str] = []
        while i < len(toks) and toks[i].kind == "field" and toks[i].pos == _end_of(toks[i - 1]):
            names.append(toks[i].text[1:])
            i += 1
        if names:
            assert chain_pos is not None
            if node.kind in ("field", "var"):
                node.names += names
                node.text += "".join("." + n for n in names)
                node.pos = chain_pos  # Go reports a chain at its second element
            else:
                node = Node("field", chain_pos, node.text + "".join("." + n for n in names), names=names, base=node)
        return node, i


def _end_of(t: Tok) -> int:
    return t.pos + len(t.text)


@dataclass(frozen=True)
class _Ident:
    name: str


def _find_close(src: str, start: int) -> int:
    """The ``}}`` closing an action, skipping quoted strings."""
    i = start
    while i < len(src):
        c = src[i]
        if c == '"':
            i += 1
            while i < len(src) and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
        elif c == "`":
            i = src.find("`", i + 1)
            if i < 0:
                return -1
        elif src.startswith("}}", i):
            return i
        i += 1
    return -1


# ------------------------------------------------------------------ execution


class _Exec:
    def __init__(self, src: str, name: str) -> None:
        self.src = src
        self.name = name
        self.out: list[str] = []

    def error(self, node: Node | Pipeline, msg: str) -> TemplateError:
        line = self.src.count("\n", 0, node.pos) + 1
        col = node.pos - (self.src.rfind("\n", 0, node.pos) + 1)
        context = node.text.replace("\n", "\\n")  # a raw string may hold one; the error stays one line
        return TemplateError(f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{context}>: {msg}')

    def run(self, blocks: list[Block], dot: Value, scope: list[dict[str, Value]]) -> None:
        for b in blocks:
            if b.kind == "text":
                self.out.append(b.text)
                continue
            assert b.pipe is not None
            if b.kind == "action":
                v = self.pipeline(b.pipe, dot, scope)
                if not b.pipe.decl:
                    self.out.append(go_print(v))
            elif b.kind == "if":
                inner = [*scope, {}]
                v = self.pipeline(b.pipe, dot, inner)
                self.run(b.body if _truth(v) else b.orelse, dot, inner)
            elif b.kind == "with":
                inner = [*scope, {}]
                v = self.pipeline(b.pipe, dot, inner, declare=False)
                if _truth(v):
                    self._declare(b.pipe.decl, [v], inner)
                    self.run(b.body, v, inner)
                else:
                    self.run(b.orelse, dot, inner)
            else:
                self._range(b, dot, scope)

    def _range(self, b: Block, dot: Value, scope: list[dict[str, Value]]) -> None:
        assert b.pipe is not None
        v = self.pipeline(b.pipe, dot, scope, declare=False)
        t = v.type.elem if isinstance(v.type, Ptr) else v.type
        items: list[tuple[Value, Value]] = []
        if isinstance(v.data, list):
            elem = t.elem if isinstance(t, Slice) else ANY
            items = [(Value(i, INT), Value(x, elem)) for i, x in enumerate(v.data)]
        elif isinstance(v.data, dict) and not isinstance(t, Struct):
            elem = t.elem if isinstance(t, Map) else ANY
            items = [(Value(k, STRING), Value(v.data[k], elem)) for k in sorted(v.data)]
        elif v.valid and v.data is not None:
            raise self.error(b.pipe, f"range can't iterate over {go_print(v)}")
        if not items:
            self.run(b.orelse, dot, scope)
        for key, item in items:
            inner = [*scope, {}]
            decl = b.pipe.decl
            self._declare(decl, [key, item] if len(decl) == 2 else [item], inner)
            self.run(b.body, item, inner)

    def _declare(self, names: Sequence[str], values: Sequence[Value], scope: list[dict[str, Value]]) -> None:
        for n, v in zip(names, values, strict=False):
            scope[-1][n] = v

    def pipeline(self, p: Pipeline, dot: Value, scope: list[dict[str, Value]], declare: bool = True) -> Value:
        prev: Value | None = None
        for cmd in p.commands:
            prev = self.command(cmd, dot, scope, prev)
        assert prev is not None
        if declare and p.decl:
            self._declare(p.decl[-1:], [prev], scope)
        return prev

    def command(self, cmd: list[Node], dot: Value, scope: list[dict[str, Value]], piped: Value | None) -> Value:
        head = cmd[0]
        if head.kind == "call":
            args = [self.operand(n, dot, scope) for n in cmd[1:]]
            if piped is not None:
                args.append(piped)
            return self.call(Node("call", head.pos, " ".join(n.text for n in cmd), value=head.value), args)
        if len(cmd) > 1 or piped is not None:
            if head.kind == "field":
                raise self.error(head, f"{head.names[-1]} has arguments but cannot be invoked as function")
            raise self.error(head, f"can't give argument to non-function {head.text}")
        return self.operand(head, dot, scope)

    def operand(self, n: Node, dot: Value, scope: list[dict[str, Value]]) -> Value:
        if n.kind == "dot":
            return dot
        if n.kind == "lit":
            if isinstance(n.value, _Ident):
                raise self.error(n, f"can't give argument to non-function {n.text}")  # a function as an argument
            kind = (ANY if n.value is None else BOOL if isinstance(n.value, bool) else INT
                    if isinstance(n.value, int) else Scalar("float64") if isinstance(n.value, float) else STRING)
            return Value(n.value, kind)
        if n.kind == "pipe":
            return self.pipeline(n.value, dot, scope, declare=False)
        if n.kind == "var":
            name = str(n.value)
            base = self._lookup(n, name, scope, dot)
            return self.chain(n, base, n.names)
        # a field chain, from dot or from a parenthesised base
        base = dot if n.base is None else self.operand(n.base, dot, scope)
        return self.chain(n, base, n.names)

    def _lookup(self, n: Node, name: str, scope: list[dict[str, Value]], dot: Value) -> Value:
        if name == "$":
            return scope[0]["$"]
        for frame in reversed(scope):
            if name in frame:
                return frame[name]
        raise self.error(n, f"undefined variable: {name}")

    def chain(self, n: Node, v: Value, names: list[str]) -> Value:
        for name in names:
            v = self.field(n, v, name)
        return v

    def field(self, n: Node, v: Value, name: str) -> Value:
        if not v.valid:
            return NO_VALUE
        t = v.type
        if isinstance(t, Ptr):
            if v.data is None:
                raise self.error(n, f"nil pointer evaluating {type_name(t)}.{name}")
            t = t.elem
        if isinstance(t, Struct):
            f = t.find(name)
            if f is None:
                raise self.error(n, f"can't evaluate field {name} in type {type_name(v.type)}")
            return _field_value(v.data if isinstance(v.data, dict) else {}, f)
        if isinstance(t, Map) or (t == ANY and isinstance(v.data, dict)):
            if not isinstance(v.data, dict) or name not in v.data:
                return NO_VALUE
            return Value(v.data[name], t.elem if isinstance(t, Map) else ANY)
        if t == ANY and v.data is None:
            raise self.error(n, f"nil pointer evaluating interface {{}}.{name}")
        raise self.error(n, f"can't evaluate field {name} in type {type_name(t)}")

    def call(self, n: Node, args: list[Value]) -> Value:
        name = n.value.name
        fn = _FUNCS[name]
        try:
            return fn(args)
        except _CallError as e:
            raise self.error(n, f"error calling {name}: {e}") from None
        except _ArgCountError as e:
            raise self.error(n, f"wrong number of args for {name}: {e}") from None


class _CallError(Exception):
    pass


class _ArgCountError(Exception):
    pass


def _nargs(args: list[Value], want: int, at_least: bool = False) -> None:
    if len(args) < want or (not at_least and len(args) != want):
        raise _ArgCountError(f"want {'at least ' if at_least else ''}{want} got {len(args)}")


def _index(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    v = args[0]
    for key in args[1:]:
        t = v.type.elem if isinstance(v.type, Ptr) else v.type
        if isinstance(v.data, list):
            if not isinstance(key.data, int) or isinstance(key.data, bool):
                raise _CallError(f"cannot index slice/array with type {type_name(key.type)}")
            if not 0 <= key.data < len(v.data):
                raise _CallError(f"index out of range: {key.data}")
            v = Value(v.data[key.data], t.elem if isinstance(t, Slice) else ANY)
        elif isinstance(v.data, dict) and not isinstance(t, Struct):
            elem = t.elem if isinstance(t, Map) else ANY
            v = Value(v.data[key.data], elem) if key.data in v.data else Value(None, elem)
        elif v.data is None and isinstance(t, Map | Slice):
            if isinstance(t, Slice):
                raise _CallError(f"index out of range: {key.data}")
            v = Value(None, t.elem)
        else:
            raise _CallError(f"can't index item of type {type_name(v.type)}")
    return v


def _len(args: list[Value]) -> Value:
    _nargs(args, 1)
    d = args[0].data
    if isinstance(d, list | dict | str):
        return Value(len(d), INT)
    if d is None and isinstance(args[0].type, Slice | Map):
        return Value(0, INT)
    raise _CallError(f"len of type {type_name(args[0].type)}")


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
            raise _CallError("incompatible types for comparison")
        return Value(test(a, b), BOOL)
    return call


def _and(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(args: list[Value]) -> Value:
    _nargs(args, 1, at_least=True)
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _one(fn: Callable[[Value], Value]) -> Callable[[list[Value]], Value]:
    def call(args: list[Value]) -> Value:
        _nargs(args, 1)
        return fn(args[0])
    return call


_FUNCS: dict[str, Callable[[list[Value]], Value]] = {
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
    "not": _one(lambda v: Value(not _truth(v), BOOL)),
    "and": _and,
    "or": _or,
}
assert set(_FUNCS) == FUNCTIONS


def render(template: str, data: Any, type: GoType = ANY, *, name: str = "format") -> str:
    """Execute Go ``template`` over ``data`` (typed as ``type``); raises :class:`TemplateError`."""
    blocks = _Parser(template, name).parse()
    dot = Value(data, type)
    ex = _Exec(template, name)
    ex.run(blocks, dot, [{"$": dot}])
    return "".join(ex.out)


__all__ = ["ANY", "BOOL", "DIGEST", "DURATION", "EMPTY", "INT", "STRING", "TIME", "Field", "GoType", "Map",
           "Ptr", "Scalar", "Slice", "Struct", "TemplateError", "Value", "go_duration", "go_print", "go_time",
           "render"]
