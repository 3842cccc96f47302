"""Running parsed blocks over a typed value: fields, variables, pipes, control flow; Go's errors."""

from __future__ import annotations

from collections.abc import Sequence

from pybuild.errors import ConfigError
from pybuild.gotemplate.functions import FUNCS, ArgCountError, CallError
from pybuild.gotemplate.parser import Block, Ident, Node, Pipeline
from pybuild.gotemplate.printing import go_print
from pybuild.gotemplate.values import (
    ANY,
    BOOL,
    INT,
    NO_VALUE,
    STRING,
    Map,
    Ptr,
    Scalar,
    Slice,
    Struct,
    Value,
    field_value,
    truth,
    type_name,
)


class Evaluator:
    """Runs a template's blocks; ``out`` collects the text."""

    def __init__(self, src: str, name: str) -> None:
        self.src = src
        self.name = name
        self.out: list[str] = []

    def error(self, node: Node | Pipeline, msg: str) -> ConfigError:
        line = self.src.count("\n", 0, node.pos) + 1
        col = node.pos - (self.src.rfind("\n", 0, node.pos) + 1)
        context = node.text.replace("\n", "\\n")  # a raw string may hold one; the error stays one line
        return ConfigError(f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{context}>: {msg}')

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
                self.run(b.body if truth(v) else b.orelse, dot, inner)
            elif b.kind == "with":
                inner = [*scope, {}]
                v = self.pipeline(b.pipe, dot, inner, declare=False)
                if truth(v):
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
            if isinstance(n.value, Ident):
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
            return field_value(v.data if isinstance(v.data, dict) else {}, f)
        if isinstance(t, Map) or (t == ANY and isinstance(v.data, dict)):
            if not isinstance(v.data, dict) or name not in v.data:
                return NO_VALUE
            return Value(v.data[name], t.elem if isinstance(t, Map) else ANY)
        if t == ANY and v.data is None:
            raise self.error(n, f"nil pointer evaluating interface {{}}.{name}")
        raise self.error(n, f"can't evaluate field {name} in type {type_name(t)}")

    def call(self, n: Node, args: list[Value]) -> Value:
        name = n.value.name
        fn = FUNCS[name]
        try:
            return fn(args)
        except CallError as e:
            raise self.error(n, f"error calling {name}: {e}") from None
        except ArgCountError as e:
            raise self.error(n, f"wrong number of args for {name}: {e}") from None
