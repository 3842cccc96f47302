"""Values a step would refuse, refused before the first step runs (BuildKit's conversion checks).

BuildKit expands and checks every instruction while it converts the Dockerfile, so a bad
EXPOSE or STOPSIGNAL fails the build before anything runs. pybuild expands each step when
it starts (a base image's ENV is known only then), so the checks run twice:
:func:`preflight` walks every stage before the first step and checks each value whose
variables the Containerfile itself defines; :func:`check_values` runs again on every
expanded step (values that needed a base image's ENV). Both raise ContainerfileError
naming ``file:line``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybuild.builder.containerfile import instructions as ins
from pybuild.lazyre import lazy

if TYPE_CHECKING:
    from pybuild.builder.containerfile.evaluate import StageEvaluator
    from pybuild.builder.graph import StepGraph

__all__ = ["check_values", "preflight", "parse_signal", "SIGNALS"]

# moby/sys/signal's SignalMap for Linux: names without "SIG", as ParseSignal looks them up
SIGNALS = frozenset(
    "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV "
    "STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ RTMIN RTMAX".split()
    + [f"RTMIN+{n}" for n in range(1, 16)] + [f"RTMAX-{n}" for n in range(1, 15)])
_GO_INT = lazy(r"[+-]?[0-9]+\Z")


def parse_signal(raw: str) -> None:
    """moby's signal.ParseSignal: a non-zero number, or a name with or without ``SIG``."""
    if _GO_INT.match(raw) and abs(int(raw)) < 2**63:
        if int(raw) == 0:
            raise ValueError(f"Invalid signal: {raw}")
        return
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in SIGNALS:
        raise ValueError(f"Invalid signal: {raw}")


def check_values(instr: ins.Instruction) -> None:
    """Refuse the bad values of an expanded instruction, as BuildKit's dispatch does."""
    try:
        for path in _paths(instr):
            if "\0" in path:
                raise ValueError(f"a path cannot hold a NUL character: {path!r}")
        if isinstance(instr, ins.Expose):
            ins.expose_ports(instr.ports)
        elif isinstance(instr, ins.StopSignal):
            parse_signal(instr.signal)
        elif isinstance(instr, ins.Add) and instr.checksum is not None:
            from pybuild.builder.copy_step import is_url

            if len(instr.sources) + len(instr.heredocs) != 1:
                raise ValueError("checksum can't be specified for multiple sources")
            if not instr.sources or not (is_url(instr.sources[0]) or ins.is_git_source(instr.sources[0])):
                raise ValueError("checksum requires HTTP(S) or Git sources")
    except ValueError as e:
        raise instr.error(f"{instr.keyword}: {e}") from None


def _paths(instr: ins.Instruction) -> list[str]:
    """The container or context paths an instruction names."""
    if isinstance(instr, ins.Copy):
        return [*instr.sources, instr.dest]
    if isinstance(instr, ins.Workdir):
        return [instr.path]
    if isinstance(instr, ins.Volume):
        return list(instr.paths)
    if isinstance(instr, ins.Run):
        return [p for m in instr.mounts for p in (m.target, m.source or "", m.id or "")]
    return []


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
        return [*_paths(instr), *(m.raw for m in instr.mounts if m.deferred)]
    if isinstance(instr, ins.Workdir | ins.Volume):
        return _paths(instr)
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
    from pybuild.builder.containerfile.evaluate import StageEvaluator

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
