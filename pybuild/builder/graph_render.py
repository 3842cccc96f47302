"""A StepGraph as text, JSON, Graphviz dot or Mermaid: what ``pybuild graph`` prints (pure:
each function returns the string; ``pybuild.build_graph(...).render(fmt)`` is the public way in)."""

from __future__ import annotations

import json


def render(graph: object, fmt: str) -> str:
    """The graph as text, json, dot or mermaid (pure: returns the string)."""
    from pybuild.builder.graph import StepGraph

    assert isinstance(graph, StepGraph)
    if fmt == "json":
        return json.dumps(_as_json(graph), indent=2) + "\n"
    if fmt == "dot":
        return _dot(graph)
    if fmt == "mermaid":
        return _mermaid(graph)
    return _text(graph)


def _base_text(s: object) -> str:
    from pybuild.builder.graph import Stage

    assert isinstance(s, Stage)
    if s.base_kind == "stage":
        return f"stage {s.base} (#{s.base_stage})"
    return f"{s.base_kind} {s.base}" if s.base_kind != "scratch" else "scratch"


def _text(graph: object) -> str:
    from pybuild.builder.graph import StepGraph

    assert isinstance(graph, StepGraph)
    lines: list[str] = []
    if graph.global_args:
        args = " ".join(k if v is None else f"{k}={v}" for k, v in graph.global_args.items())
        lines.append(f"global ARGs: {args}")
    for s in graph.stages:
        title = f"stage #{s.index}" + (f" {s.name}" if s.name else "")
        if s is graph.final:
            title += " (final)"
        lines.append(f"{title}: FROM {_base_text(s)}" + (f" --platform={s.platform}" if s.platform else ""))
        deps = ", ".join(graph.all_stages[d].label for d in sorted(s.deps))
        if deps:
            lines.append(f"  needs: {deps}")
        for img in sorted(s.images):
            lines.append(f"  uses image: {img}")
        for ctx in sorted(s.contexts):
            lines.append(f"  uses context: {ctx}")
        for instr in s.instructions:
            lines.append(f"  {instr.line:>4}  {instr.original.strip()}")
    lines.append("order: " + " -> ".join(s.label for s in graph.order))
    lines.append("parallel levels: " + " | ".join(", ".join(s.label for s in lv) for lv in graph.levels))
    for instr, reason in graph.unsupported():
        lines.append(f"not supported yet: {instr.where}: {reason}")
    unused = graph.unused_build_args()
    if unused:
        lines.append("unused build args: " + ", ".join(unused))
    return "\n".join(lines) + "\n"


def _as_json(graph: object) -> dict[str, object]:
    from pybuild.builder.graph import StepGraph

    assert isinstance(graph, StepGraph)
    return {
        "final": graph.final.index,
        "target_platform": graph.platform,
        "global_args": graph.global_args,
        "order": [s.index for s in graph.order],
        "levels": [[s.index for s in lv] for lv in graph.levels],
        "stages": [{
            "index": s.index, "name": s.name, "base": s.base, "base_kind": s.base_kind,
            "base_stage": s.base_stage, "platform": s.platform, "deps": sorted(s.deps),
            "images": sorted(s.images), "contexts": sorted(s.contexts),
            "steps": [{"line": i.line, "end_line": i.end_line, "instruction": i.keyword,
                       "text": i.original.strip()} for i in s.instructions],
        } for s in graph.stages],
        "unsupported": [{"line": i.line, "reason": r} for i, r in graph.unsupported()],
        "unused_build_args": graph.unused_build_args(),
    }


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _dot(graph: object) -> str:
    from pybuild.builder.graph import StepGraph

    assert isinstance(graph, StepGraph)
    out = ["digraph build {", "  rankdir=LR;"]
    images: set[str] = set()
    for s in graph.stages:
        label = _esc(f"#{s.index} {s.name or ''}".strip()) + f"\\n{len(s.instructions)} steps"
        shape = "doubleoctagon" if s is graph.final else "box"
        out.append(f'  "s{s.index}" [label="{label}", shape={shape}];')
        if s.base_kind in ("image", "context"):
            images.add(s.base)
            out.append(f'  "{_esc(s.base)}" -> "s{s.index}" [label="FROM"];')
        for d in sorted(s.deps):
            kind = "FROM" if d == s.base_stage else "--from"
            out.append(f'  "s{d}" -> "s{s.index}" [label="{kind}"];')
        for img in sorted(s.images | s.contexts):
            images.add(img)
            out.append(f'  "{_esc(img)}" -> "s{s.index}" [label="--from", style=dashed];')
    for img in sorted(images):
        out.append(f'  "{_esc(img)}" [shape=ellipse];')
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid(graph: object) -> str:
    from pybuild.builder.graph import StepGraph

    assert isinstance(graph, StepGraph)
    out = ["graph LR"]
    ids: dict[str, str] = {}

    def ext(name: str) -> str:
        if name not in ids:
            ids[name] = f"x{len(ids)}"
            out.append(f'  {ids[name]}(["{name.replace(chr(34), "#quot;")}"])')
        return ids[name]

    for s in graph.stages:
        label = f"#{s.index} {s.name or ''}"
        out.append(f'  s{s.index}["{label.strip()}"]')
        if s.base_kind in ("image", "context"):
            out.append(f"  {ext(s.base)} -->|FROM| s{s.index}")
        for d in sorted(s.deps):
            kind = "FROM" if d == s.base_stage else "--from"
            out.append(f"  s{d} -->|{kind}| s{s.index}")
        for img in sorted(s.images | s.contexts):
            out.append(f"  {ext(img)} -.->|--from| s{s.index}")
    return "\n".join(out) + "\n"
