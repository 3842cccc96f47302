"""Template text -> blocks (text, actions, if/range/with) of pipelines of operands, as Go parses it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pybuild.errors import ConfigError
from pybuild.gotemplate.functions import FUNCS
from pybuild.lazyre import lazy

_TOKEN = lazy(r"""
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


class Parser:
    """One template's text -> blocks; errors name the line, as Go's parse errors do."""

    def __init__(self, text: str, name: str) -> None:
        self.src = text
        self.name = name

    def error(self, pos: int, msg: str) -> ConfigError:
        return ConfigError(f"template: {self.name}:{self.src.count(chr(10), 0, pos) + 1}: {msg}")

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
            if head.kind == "lit" and isinstance(head.value, Ident):
                if head.value.name not in FUNCS:
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
            node = Node("lit", t.pos, t.text, value=consts[t.text] if t.text in consts else Ident(t.text))
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
class Ident:
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
