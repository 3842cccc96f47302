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
``break``/``continue``; a nested non-nil pointer prints as ``&{...}`` where Go prints an
address. Errors read as Go's (``template: format:1:8: executing "format" at <.A.Nope>: can't evaluate field
Nope in type T``) and raise :class:`~pybuild.errors.ConfigError`. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pybuild.gotemplate.evaluate import Evaluator
from pybuild.gotemplate.parser import Parser
from pybuild.gotemplate.printing import go_duration, go_json, go_print, go_time
from pybuild.gotemplate.values import (
    ANY,
    BOOL,
    DIGEST,
    DURATION,
    EMPTY,
    INT,
    STRING,
    TIME,
    Field,
    GoType,
    Map,
    Ptr,
    Scalar,
    Slice,
    Struct,
    Value,
)


def render(template: str, data: Any, type: GoType = ANY, *, name: str = "format") -> str:
    """Execute Go ``template`` over ``data`` (typed as ``type``); a bad template raises ConfigError."""
    blocks = Parser(template, name).parse()
    dot = Value(data, type)
    ex = Evaluator(template, name)
    ex.run(blocks, dot, [{"$": dot}])
    return "".join(ex.out)


__all__ = ["ANY", "BOOL", "DIGEST", "DURATION", "EMPTY", "INT", "STRING", "TIME", "Field", "GoType", "Map",
           "Ptr", "Scalar", "Slice", "Struct", "Value", "go_duration", "go_json", "go_print", "go_time", "render"]
