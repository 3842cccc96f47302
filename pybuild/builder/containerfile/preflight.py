"""The check before the first step: walk every stage as the executor will and refuse each bad
value knowable now (check.py's :func:`check_values` on the values whose variables the
Containerfile itself defines).

Apart from check.py because it drives the evaluator, which in turn runs check.py's value checks
on every expanded step: one module each way would be an import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybuild.builder.containerfile import instructions as ins
from pybuild.builder.containerfile.check import check_values, named_paths
from pybuild.builder.containerfile.evaluate import StageEvaluator

if TYPE_CHECKING:
    from pybuild.builder.graph import StepGraph

__all__ = ["preflight"]


def _checked_texts(instr: ins.Instruction) -> list[str] | None:
    """The unexpanded texts :func:`check_values` depends on (None: nothing to check)."""
    if isinstance(instr, ins.Expose):
        return list(instr.ports)
    if isinstance(instr, ins.StopSignal):
        return [instr.signal]
    if isinstance(instr, ins.Copy):
        return [*instr.sources, instr.dest, getattr(instr, "checksum", None) or "", instr.chown or "",
                instr.chmod or "", *(f.body for f in instr.heredocs if f.expand)]
    if isinstance(instr, ins.Run):  # a deferred mount's values are all expanded at its step
        return [*named_paths(instr), *(m.raw for m in instr.mounts if m.deferred)]
    if isinstance(instr, ins.Workdir | ins.Volume):
        return named_paths(instr)
    return None


def _known(ev: StageEvaluator, texts: list[str], unknown: set[str]) -> bool:
    """Whether every variable in ``texts`` is one the Containerfile (or --build-arg) sets,
    from values known now (``unknown``: names set from a base image's ENV)."""
    env = ev.expansion_env()
    for text in texts:
        try:
            _, matched, unmatched = ev.lexer.process_word_with_matches(text, env)
        except Exception:  # noqa: BLE001 - a malformed word fails with its message at its step
            return False
        if unmatched or matched & unknown:
            return False
    return True


def preflight(graph: StepGraph) -> None:
    """Walk every stage as the executor will and check each value knowable now: those whose
    variables are all ARGs or ENVs of the Containerfile, not of a base image."""
    walked: dict[int, tuple[StageEvaluator, set[str]]] = {}
    for stage in graph.order:
        parent, inherited = walked.get(stage.base_stage or 0, (None, set())) if stage.base_kind == "stage" \
            else (None, set())
        ev = StageEvaluator(stage, graph, base_env=None if parent else [], parent=parent)
        unknown = set(inherited)
        for instr in stage.instructions:
            texts = _checked_texts(instr)
            if texts is not None and _known(ev, texts, unknown):
                check_values(ev.expand(instr))
            if isinstance(instr, ins.Env | ins.Arg):
                pairs = instr.pairs if isinstance(instr, ins.Env) else [(k, v or "") for k, v in instr.args]
                for name, value in pairs:
                    (unknown.discard if _known(ev, [value], unknown) else unknown.add)(name)
                try:
                    ev.apply(instr)
                except Exception:  # noqa: BLE001 - its own step reports it, where it stands
                    break
        walked[stage.index] = (ev, unknown)
