"""A stage's ARG and ENV state while the executor walks it, and expansion per step.

Why separate from the graph: what ``$X`` means changes at every ARG and ENV
line, so the executor asks for each step's expanded form just before running it::

    ev = StageEvaluator(stage, graph, base_env=image_env, parent=ev_of_base_stage)
    for instr in stage.instructions:
        x = ev.expand(instr)   # fields Docker expands, expanded
        ... execute x ...
        ev.apply(x)            # ARG/ENV state after the instruction

Rules (BuildKit's): ENV beats ARG of the same name; ``ENV a=1 b=$a`` sees the old
``a``; RUN/CMD/ENTRYPOINT bodies, HEALTHCHECK, SHELL, ONBUILD and ``--from``
are not expanded; RUN ``--mount`` options are; a bare ``ARG X`` imports a global
ARG's value; ``--build-arg`` overrides a declared ARG's default; the proxy ARGs
and the automatic platform ARGs need no default; a stage FROM another stage
inherits its ARGs (and, through the image, its ENV).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pybuild.builder.containerfile.expand import Lexer
from pybuild.builder.containerfile.instructions import (
    Add,
    Arg,
    Copy,
    Env,
    Expose,
    InlineFile,
    Instruction,
    Label,
    MountSpec,
    Run,
    StopSignal,
    User,
    Volume,
    Workdir,
    validate_chmod,
)
from pybuild.builder.proxy_args import is_proxy_arg
from pybuild.errors import ContainerfileError, ExpansionError

if TYPE_CHECKING:
    from pybuild.builder.graph import Stage, StepGraph

__all__ = ["StageEvaluator", "env_list_to_dict"]


def env_list_to_dict(env: list[str] | None) -> dict[str, str]:
    """Image config Env (``K=V`` strings) -> ordered dict; the last of duplicates wins."""
    out: dict[str, str] = {}
    for e in env or []:
        k, _, v = e.partition("=")
        out[k] = v
    return out


class StageEvaluator:
    """ARG/ENV state of one stage; expands instructions the way BuildKit does."""

    def __init__(self, stage: Stage, graph: StepGraph, *, base_env: list[str] | None = None,
                 build_args: Mapping[str, str] | None = None, platform: str | None = None,
                 parent: StageEvaluator | None = None, escape: str | None = None) -> None:
        from pybuild.builder.graph import platform_args

        self.stage = stage
        self.graph = graph
        self.build_args = dict(graph.build_args if build_args is None else build_args)
        doc = graph.document
        self.lexer = Lexer(escape or (doc.escape if doc else "\\"))
        self.heredoc_lexer = Lexer(self.lexer.escape, skip_quotes=True)
        target = platform or graph.platform  # BuildKit: TARGET* name the build's result, in every stage
        self.auto_args = platform_args(target, graph.build_platform)
        if base_env is None and parent is not None:
            self.env: dict[str, str] = dict(parent.env)
        else:
            self.env = env_list_to_dict(base_env)
        # declared ARGs in scope: name -> value (None: declared without a value)
        self.args: dict[str, str | None] = dict(parent.args) if parent is not None else {}
        self._used: set[str] = set(parent._used) if parent is not None else set()
        self._expanded: dict[int, Instruction] = {}

    # --- state -----------------------------------------------------------------

    def expansion_env(self) -> dict[str, str]:
        """What ``$X`` sees now: ARGs with a value, then ENV over them."""
        env = {k: v for k, v in self.args.items() if v is not None}
        for k, v in self.build_args.items():
            if is_proxy_arg(k) and k not in env:
                env[k] = v
        env.update(self.env)
        return env

    def run_env(self, *, proxies: bool = True) -> list[str]:
        """The environment a RUN sees: the image's ENV, then ARGs in scope that ENV does not
        set, then the proxy build args (``proxies=False`` for the cache key: BuildKit keeps its
        ProxyEnv out of the key, so a changed proxy reuses the step)."""
        out = [f"{k}={v}" for k, v in self.env.items()]
        declared = self.args_in_scope()
        out.extend(f"{k}={v}" for k, v in declared.items() if k not in self.env)
        if proxies:
            out.extend(f"{k}={v}" for k, v in self.proxy_env().items() if k not in self.env and k not in declared)
        return out

    def args_in_scope(self) -> dict[str, str]:
        """ARGs declared in scope that have a value."""
        return {k: v for k, v in self.args.items() if v is not None}

    def proxy_env(self) -> dict[str, str]:
        """``--build-arg http_proxy=V`` (any case) as BuildKit gives it to a step, with no ARG
        needed: both ``HTTP_PROXY=V`` and ``http_proxy=V``; likewise https, ftp, no and all."""
        out: dict[str, str] = {}
        for k in sorted(self.build_args):
            if is_proxy_arg(k):  # BuildKit matches the name in any case (EqualFold)
                out[k.upper()] = out[k.lower()] = self.build_args[k]
        return out

    def used_build_args(self) -> set[str]:
        """``--build-arg`` names this stage (or the stages it inherits from) consumed."""
        return set(self._used)

    def unused_build_args(self) -> set[str]:
        """``--build-arg`` names this stage did not consume (intersect over stages for the warning)."""
        declared_global = set(self.graph.global_args)
        return {k for k in self.build_args
                if k not in self._used and k not in declared_global and not is_proxy_arg(k)}

    # --- expansion ---------------------------------------------------------------

    def word(self, instr: Instruction, text: str) -> str:
        return self._word(instr, text, self.expansion_env())

    def _word(self, instr: Instruction, text: str, env: Mapping[str, str]) -> str:
        try:
            return self.lexer.process_word(text, env)
        except ExpansionError as e:
            raise ContainerfileError(e.message, file=instr.file, line=instr.line) from None

    def _words(self, instr: Instruction, text: str, env: Mapping[str, str]) -> list[str]:
        try:
            return self.lexer.process_words(text, env)
        except ExpansionError as e:
            raise ContainerfileError(e.message, file=instr.file, line=instr.line) from None

    def expand(self, instr: Instruction) -> Instruction:
        """A copy of ``instr`` with every field Docker expands expanded (others untouched)."""
        env = self.expansion_env()
        w = lambda s: self._word(instr, s, env)  # noqa: E731
        changes: dict[str, Any] = {}
        if isinstance(instr, Env):
            changes["pairs"] = tuple((w(k), w(v)) for k, v in instr.pairs)
        elif isinstance(instr, Label):
            changes["pairs"] = tuple((w(k), w(v)) for k, v in instr.pairs)
        elif isinstance(instr, Arg):
            changes["args"] = tuple((k, None if v is None else w(v)) for k, v in instr.args)
        elif isinstance(instr, Copy):
            changes["sources"] = tuple(w(s) for s in instr.sources)
            changes["dest"] = w(instr.dest)
            if instr.chown is not None:
                changes["chown"] = w(instr.chown)
            if instr.chmod is not None:
                chmod = w(instr.chmod)
                try:
                    validate_chmod(chmod)
                except Exception as e:  # noqa: BLE001 - InstructionValueError carries the message
                    raise instr.error(str(e)) from None
                changes["chmod"] = chmod
            changes["heredocs"] = tuple(self._inline(instr, f, env) for f in instr.heredocs)
            if isinstance(instr, Add) and instr.checksum is not None:
                changes["checksum"] = w(instr.checksum)
        elif isinstance(instr, Run):
            changes["mounts"] = tuple(self._mount(instr, m, env) for m in instr.mounts)
        elif isinstance(instr, Expose):
            ports: list[str] = []
            for p in instr.ports:
                ports.extend(self._words(instr, p, env))
            changes["ports"] = tuple(ports)
        elif isinstance(instr, Volume):
            changes["paths"] = tuple(w(p) for p in instr.paths)
        elif isinstance(instr, Workdir):
            changes["path"] = w(instr.path)
        elif isinstance(instr, User):
            changes["user"] = w(instr.user)
        elif isinstance(instr, StopSignal):
            changes["signal"] = w(instr.signal)
        result = dataclasses.replace(instr, **changes) if changes else instr
        from pybuild.builder.containerfile.check import check_values

        check_values(result)
        self._expanded[id(result)] = result
        return result

    def _inline(self, instr: Instruction, f: InlineFile, env: Mapping[str, str]) -> InlineFile:
        if not f.expand:
            return f
        try:
            body = self.heredoc_lexer.process_word(f.body, env)
        except ExpansionError as e:
            raise ContainerfileError(e.message, file=instr.file, line=instr.line) from None
        return dataclasses.replace(f, body=body, expand=False)

    def _mount(self, instr: Run, m: MountSpec, env: Mapping[str, str]) -> MountSpec:
        if m.deferred:  # BuildKit expands every value of such a mount, then parses it
            from pybuild.builder.containerfile.values import parse_mount

            try:
                return dataclasses.replace(parse_mount(m.raw, lambda v: self._word(instr, v, env)), raw=m.raw)
            except ContainerfileError:
                raise
            except Exception as e:  # noqa: BLE001 - values.InstructionValueError carries BuildKit's message
                raise instr.error(f"RUN: --mount={m.raw}: {e}") from None
        changes: dict[str, Any] = {}
        for name in ("target", "source", "id", "env"):
            value = getattr(m, name)
            if value:
                changes[name] = self._word(instr, value, env)
        return dataclasses.replace(m, **changes)

    # --- state updates -------------------------------------------------------------

    def apply(self, instr: Instruction) -> None:
        """Update ARG/ENV state after ``instr`` (pass what :meth:`expand` returned)."""
        if id(instr) not in self._expanded and isinstance(instr, Env | Arg):
            instr = self.expand(instr)
        self._expanded.pop(id(instr), None)
        if isinstance(instr, Env):
            for k, v in instr.pairs:
                self.env[k] = v
        elif isinstance(instr, Arg):
            for k, default in instr.args:
                self.args[k] = self._arg_value(k, default)

    def _arg_value(self, name: str, default: str | None) -> str | None:
        if name in self.build_args:
            self._used.add(name)
            return self.build_args[name]
        if default is not None:
            return default
        if self.graph.global_args.get(name) is not None:
            return self.graph.global_args[name]
        if name in self.auto_args:
            return self.auto_args[name]
        return None


