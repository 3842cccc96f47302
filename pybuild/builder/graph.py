"""Stages -> StepGraph: what to build, in which order, and what each stage needs.

Pure: takes a parsed Document plus build args, target, named contexts and
platform; returns values.  Follows BuildKit's conversion:

- ARGs before the first FROM are global: visible to FROM lines (image and
  ``--platform``), imported into a stage only by a bare ``ARG NAME``; the automatic
  platform ARGs (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM,
  BUILDOS, BUILDARCH, BUILDVARIANT) are global too.
- ``FROM <stage>``, ``COPY --from=<stage|index>`` and ``RUN --mount=from=<stage>``
  make dependencies; any other ``--from`` is a named build context or an image.
- ``COPY --from`` is not expanded (BuildKit refuses variables there and so do we,
  with its workaround in the message); ``FROM`` is expanded with global ARGs.
- ``--target`` keeps only the stages it reaches; cycles and unknown targets are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pybuild.builder.containerfile.expand import Lexer
from pybuild.builder.containerfile.instructions import (
    Arg,
    Copy,
    From,
    Instruction,
    Onbuild,
    Run,
    from_node,
    unsupported,
)
from pybuild.builder.containerfile.parser import Document
from pybuild.builder.proxy_args import PROXY_ARGS, is_proxy_arg
from pybuild.errors import ContainerfileError, ExpansionError

__all__ = ["Stage", "StepGraph", "build_graph", "platform_args", "PROXY_ARGS"]



@dataclass
class Stage:
    """One ``FROM`` and the instructions after it."""

    index: int
    name: str | None
    base: str  # the FROM image after expanding global ARGs
    base_kind: str  # "image" | "stage" | "scratch" | "context"
    from_instruction: From
    platform: str | None = None  # expanded --platform, None = the build's target platform
    base_stage: int | None = None
    instructions: list[Instruction] = field(default_factory=list)
    deps: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)  # external images used by COPY --from / mounts
    contexts: set[str] = field(default_factory=set)  # named build contexts used

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.index)


def platform_args(target: str, build: str | None = None) -> dict[str, str]:
    """The automatic platform ARGs for a target (and build) platform like ``linux/arm64/v8``."""
    out: dict[str, str] = {}
    for prefix, value in (("TARGET", target), ("BUILD", build or _host_platform())):
        parts = value.split("/")
        os_ = parts[0] if parts else "linux"
        arch = parts[1] if len(parts) > 1 else ""
        variant = parts[2] if len(parts) > 2 else ""
        out[prefix + "PLATFORM"] = value
        out[prefix + "OS"] = os_
        out[prefix + "ARCH"] = arch
        out[prefix + "VARIANT"] = variant
    return out


def _host_platform() -> str:
    from pybuild.oci.platform_host import host_platform

    return str(host_platform())


@dataclass
class StepGraph:
    """The stages a build needs (file order), the one to tag, and a schedule."""

    stages: list[Stage]
    final: Stage
    all_stages: list[Stage]
    global_args: dict[str, str | None]
    build_args: dict[str, str]
    platform: str
    build_platform: str
    build_contexts: dict[str, str]
    document: Document | None = None
    order: list[Stage] = field(default_factory=list)
    levels: list[list[Stage]] = field(default_factory=list)

    def stage(self, key: int | str) -> Stage:
        """A stage by index or (case-insensitive) name, among all stages of the file."""
        if isinstance(key, int):
            return self.all_stages[key]
        for s in self.all_stages:
            if s.name == key.lower():
                return s
        raise KeyError(key)

    def ready(self, done: set[int]) -> list[Stage]:
        """Stages not yet done whose dependencies are all done (may run in parallel)."""
        return [s for s in self.stages if s.index not in done and s.deps <= done]

    def resolve_from(self, stage: Stage, value: str) -> tuple[str, int | str]:
        """``COPY --from`` / ``--mount from=`` -> ("stage", index) | ("context", name) | ("image", ref)."""
        return _resolve(value, stage, self.all_stages, self.build_contexts)

    def unsupported(self) -> list[tuple[Instruction, str]]:
        """Every instruction of the reached stages that pybuild cannot execute yet, with why."""
        out: list[tuple[Instruction, str]] = []
        for s in self.stages:
            for instr in s.instructions:
                reason = unsupported(instr)
                if reason:
                    out.append((instr, reason))
        return out

    def external_images(self) -> list[str]:
        """Images the build pulls: FROM images and ``COPY --from`` images, first use first."""
        seen: list[str] = []
        for s in self.stages:
            refs = ([s.base] if s.base_kind == "image" else []) + sorted(s.images)
            for r in refs:
                if r not in seen:
                    seen.append(r)
        return seen

    def declared_args(self) -> set[str]:
        names = set(self.global_args)
        for s in self.stages:
            for instr in s.instructions:
                if isinstance(instr, Arg):
                    names.update(k for k, _ in instr.args)
        return names

    def unused_build_args(self) -> list[str]:
        """``--build-arg`` names no ARG of the reached stages declares (buildah warns about them)."""
        declared = self.declared_args() | set(platform_args(self.platform))
        return sorted(k for k in self.build_args if k not in declared and not is_proxy_arg(k))


def _resolve(value: str, stage: Stage, stages: list[Stage], contexts: Mapping[str, str]) -> tuple[str, int | str]:
    if value.isdigit():
        idx = int(value)
        if idx >= len(stages):
            raise ContainerfileError(f"invalid stage index {idx} in --from (the file has {len(stages)} stages)",
                                     file=stage.from_instruction.file, line=stage.from_instruction.line)
        return "stage", idx
    if value in contexts:  # a named context overrides a stage of the same name (BuildKit)
        return "context", value
    low = value.lower()
    for s in stages:
        if s.name is not None and s.name == low:
            return "stage", s.index
    return "image", value


def build_graph(doc: Document, *, build_args: Mapping[str, str] | None = None, target: str | None = None,
                build_contexts: Mapping[str, str] | None = None, platform: str | None = None,
                build_platform: str | None = None) -> StepGraph:
    """Type the document's instructions and arrange them into stages and a schedule."""
    build_args = dict(build_args or {})
    contexts = dict(build_contexts or {})
    host = build_platform or _host_platform()
    platform = platform or host
    lexer = Lexer(doc.escape)
    auto = platform_args(platform, host)
    meta: dict[str, str] = dict(auto)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    names: dict[str, int] = {}
    for node in doc.nodes:
        instr = from_node(node, doc.filename)
        if isinstance(instr, From):
            stages.append(_new_stage(instr, len(stages), lexer, meta, names, contexts))
            if instr.stage_name:
                names[instr.stage_name] = len(stages) - 1
            continue
        if not stages:
            if not isinstance(instr, Arg):
                raise ContainerfileError(f"{node.value.upper()} before the first FROM: only ARG may come "
                                         "before FROM (no build stage in current context)",
                                         file=doc.filename, line=node.start_line)
            for k, default in instr.args:
                value: str | None
                if k in build_args:
                    value = build_args[k]
                elif default is not None:
                    value = _expand(lexer, default, meta, instr)
                else:
                    value = auto.get(k)  # a bare ARG TARGETOS takes the automatic value
                global_args[k] = value
                if value is not None:
                    meta[k] = value
                else:
                    meta.pop(k, None)
            continue
        stages[-1].instructions.append(instr)
    if not stages:
        raise ContainerfileError("no FROM instruction: a Containerfile needs at least one stage",
                                 file=doc.filename, line=doc.nodes[-1].end_line)
    for s in stages:
        _collect_deps(s, stages, contexts)
    if target is not None:
        try:
            final = next(s for s in stages if s.name == target.lower())
        except StopIteration:
            if target.isdigit() and int(target) < len(stages):
                final = stages[int(target)]
            else:
                known = ", ".join(s.name for s in stages if s.name) or "none"
                raise ContainerfileError(f"target stage {target!r} could not be found (named stages: {known})",
                                         file=doc.filename) from None
    else:
        final = stages[-1]
    order = _toposort(final, stages)
    reached = sorted(order, key=lambda s: s.index)
    graph = StepGraph(stages=reached, final=final, all_stages=stages, global_args=global_args,
                      build_args=build_args, platform=platform, build_platform=host, build_contexts=contexts,
                      document=doc, order=order, levels=_levels(order))
    return graph


def _expand(lexer: Lexer, word: str, env: Mapping[str, str], instr: Instruction) -> str:
    try:
        return lexer.process_word(word, env)
    except ExpansionError as e:
        raise instr.error(e.message) from None


def _new_stage(instr: From, index: int, lexer: Lexer, meta: Mapping[str, str], names: Mapping[str, int],
               contexts: Mapping[str, str]) -> Stage:
    base = _expand(lexer, instr.image, meta, instr)
    if not base:
        raise instr.error(f"base name ({instr.image}) should not be blank")
    platform = _expand(lexer, instr.platform, meta, instr) if instr.platform else None
    if instr.stage_name and instr.stage_name in names:
        raise instr.error(f"duplicate stage name {instr.stage_name!r}")
    stage = Stage(index=index, name=instr.stage_name, base=base, base_kind="image", from_instruction=instr,
                  platform=platform)
    low = base.lower()
    if low == "scratch":
        stage.base_kind = "scratch"
    elif base in contexts:  # a named context overrides a stage or image of the same name
        stage.base_kind = "context"
        stage.contexts.add(base)
    elif low in names:
        stage.base_kind = "stage"
        stage.base_stage = names[low]
        stage.deps.add(names[low])
    elif instr.stage_name and low == instr.stage_name:
        raise instr.error(f"stage {instr.stage_name!r} cannot be FROM itself")
    return stage


def _check_from(value: str, instr: Instruction) -> None:
    if "$" in value:
        raise instr.error(f"variable expansion is not supported for --from ({value}); define a new stage "
                          "with FROM using an ARG from the global scope and use its name instead")


def _collect_deps(stage: Stage, stages: list[Stage], contexts: Mapping[str, str]) -> None:
    for instr in stage.instructions:
        froms: list[str] = []
        if isinstance(instr, Copy) and instr.from_:
            froms.append(instr.from_)
        elif isinstance(instr, Run):
            froms.extend(m.from_ for m in instr.mounts if m.from_)
        elif isinstance(instr, Onbuild):
            continue
        for value in froms:
            _check_from(value, instr)
            try:
                kind, ref = _resolve(value, stage, stages, contexts)
            except ContainerfileError as e:  # name the instruction's line, not the stage's FROM
                raise instr.error(e.message) from None
            if kind == "stage":
                assert isinstance(ref, int)
                if ref == stage.index:
                    raise instr.error(f"circular dependency: stage {stage.label!r} uses itself in --from")
                if ref > stage.index and isinstance(instr, Copy):  # BuildKit's rule (testOutOfOrderStage)
                    raise instr.error(f"cannot copy from stage {value!r}, it needs to be defined before "
                                      f"current stage {stage.label!r}")
                stage.deps.add(ref)
            elif kind == "context":
                stage.contexts.add(str(ref))
            else:
                stage.images.add(str(ref))


def _toposort(final: Stage, stages: list[Stage]) -> list[Stage]:
    order: list[Stage] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(s: Stage, chain: list[str]) -> None:
        st = state.get(s.index)
        if st == 2:
            return
        if st == 1:
            cycle = " -> ".join([*chain, s.label])
            instr = s.from_instruction
            raise instr.error(f"circular dependency between stages: {cycle}")
        state[s.index] = 1
        for d in sorted(s.deps):
            visit(stages[d], [*chain, s.label])
        state[s.index] = 2
        order.append(s)

    visit(final, [])
    return order


def _levels(order: list[Stage]) -> list[list[Stage]]:
    depth: dict[int, int] = {}
    for s in order:
        depth[s.index] = 1 + max((depth[d] for d in s.deps), default=-1)
    levels: list[list[Stage]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for s in sorted(order, key=lambda x: x.index):
        levels[depth[s.index]].append(s)
    return levels
