"""Values a step would refuse, refused before the first step runs (BuildKit's conversion checks).

BuildKit expands and checks every instruction while it converts the Dockerfile, so a bad
EXPOSE or STOPSIGNAL fails the build before anything runs. pybuild expands each step when
it starts (a base image's ENV is known only then), so the checks run twice:
:func:`preflight.preflight` walks every stage before the first step and checks each value whose
variables the Containerfile itself defines; :func:`check_values` runs again on every
expanded step (values that needed a base image's ENV). Both raise ContainerfileError
naming ``file:line``.
"""

from __future__ import annotations

from pybuild.builder.containerfile import instructions as ins
from pybuild.lazyre import lazy

__all__ = ["check_values", "named_paths", "parse_signal", "SIGNALS"]

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
        for path in named_paths(instr):
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


def named_paths(instr: ins.Instruction) -> list[str]:
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
