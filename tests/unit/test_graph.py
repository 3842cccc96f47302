"""The step graph and the stage evaluator: stages, deps, --target, ARG/ENV scoping."""

from __future__ import annotations

import pytest

from pybuild.builder.containerfile import instructions as I
from pybuild.builder.containerfile import parse
from pybuild.builder.containerfile.evaluate import StageEvaluator
from pybuild.builder.graph import StepGraph, build_graph
from pybuild.errors import ContainerfileError

MULTI = """\
ARG GO=1.22
ARG UNUSED
FROM golang:${GO} AS build
RUN go build
FROM alpine AS tools
RUN apk add x
FROM build AS test
RUN --mount=type=bind,from=tools,target=/t go test
FROM scratch
COPY --from=build /out /app
COPY --from=1 /x /x
COPY --from=docker.io/library/busybox /bin/sh /sh
COPY --from=mine /y /y
"""


def g(text: str, **kw: object) -> StepGraph:
    return build_graph(parse(text, "Cf"), platform="linux/amd64", build_platform="linux/amd64", **kw)  # type: ignore[arg-type]


def test_stages_bases_and_deps() -> None:
    graph = g(MULTI, build_contexts={"mine": "/ctx"})
    s = {st.index: st for st in graph.all_stages}
    assert (s[0].name, s[0].base, s[0].base_kind) == ("build", "golang:1.22", "image")
    assert (s[2].base_kind, s[2].base_stage, s[2].deps) == ("stage", 0, {0, 1})
    assert s[3].base_kind == "scratch" and s[3].deps == {0, 1}
    assert s[3].images == {"docker.io/library/busybox"} and s[3].contexts == {"mine"}
    assert graph.final is s[3]
    assert [st.index for st in graph.stages] == [0, 1, 3]  # test stage is not reached
    assert [[x.index for x in lv] for lv in graph.levels] == [[0, 1], [3]]
    assert graph.ready(set()) == [s[0], s[1]] and graph.ready({0, 1}) == [s[3]]
    assert graph.global_args == {"GO": "1.22", "UNUSED": None}
    assert graph.external_images() == ["golang:1.22", "alpine", "docker.io/library/busybox"]
    assert all(not isinstance(i, I.From) for i in s[0].instructions)


def test_target_keeps_only_reached_stages() -> None:
    graph = g(MULTI, target="test")
    assert [s.index for s in graph.stages] == [0, 1, 2] and graph.final.name == "test"
    assert [s.label for s in graph.order][-1] == "test"


def test_unknown_target_and_build_arg_override() -> None:
    with pytest.raises(ContainerfileError, match="target stage 'nope' could not be found"):
        g(MULTI, target="nope")
    assert g(MULTI, build_args={"GO": "1.21"}).all_stages[0].base == "golang:1.21"


def test_resolve_from() -> None:
    graph = g(MULTI, build_contexts={"mine": "/ctx"})
    final = graph.final
    assert graph.resolve_from(final, "BUILD") == ("stage", 0)
    assert graph.resolve_from(final, "1") == ("stage", 1)
    assert graph.resolve_from(final, "mine") == ("context", "mine")
    assert graph.resolve_from(final, "nginx") == ("image", "nginx")


def test_cycle_and_self_reference_are_errors() -> None:
    # a RUN mount may name a later stage (BuildKit), so a cycle is still possible through one
    with pytest.raises(ContainerfileError, match="circular dependency"):
        g("FROM a AS x\nRUN --mount=from=y,target=/m true\nFROM b AS y\nCOPY --from=x / /\n")
    with pytest.raises(ContainerfileError, match="uses itself"):
        g("FROM a AS x\nCOPY --from=x / /\n")


def test_copy_from_a_later_stage_is_an_error_naming_both_stages() -> None:
    # BuildKit's testOutOfOrderStage (tests/difftest/116-bk-out-of-order-stage)
    with pytest.raises(ContainerfileError, match="cannot copy from stage 'y', it needs to be defined before "
                                                 "current stage 'x'") as e:
        g("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\n")
    assert e.value.line == 2
    with pytest.raises(ContainerfileError, match="cannot copy from stage '1'"):
        g("FROM a\nCOPY --from=1 / /\nFROM b\n")


def test_invalid_stage_index_and_variables_in_from() -> None:
    with pytest.raises(ContainerfileError, match="invalid stage index 5") as e:
        g("FROM a\nCOPY --from=5 / /\n")
    with pytest.raises(ContainerfileError, match="variable expansion is not supported for --from") as e:
        g("FROM a\nARG S=x\nCOPY --from=$S / /\n")
    assert e.value.line == 3


def test_instruction_before_from_and_duplicate_names() -> None:
    with pytest.raises(ContainerfileError, match="Cf:1: RUN before the first FROM"):
        g("RUN x\nFROM a\n")
    with pytest.raises(ContainerfileError, match="Cf:2: duplicate stage name 'a'"):
        g("FROM x AS a\nFROM y AS a\n")


def test_unknown_instruction_reported_by_graph_with_line() -> None:
    with pytest.raises(ContainerfileError, match="Cf:3: unknown instruction: FOO"):
        g("FROM a\nRUN x\nfoo bar\n")


def test_platform_args_in_from() -> None:
    graph = build_graph(parse("FROM --platform=$BUILDPLATFORM img:$TARGETARCH\n"), platform="linux/arm64/v8",
                        build_platform="linux/amd64")
    s = graph.stages[0]
    assert (s.platform, s.base) == ("linux/amd64", "img:arm64")


def test_unsupported_list_and_unused_build_args() -> None:
    graph = g("FROM a\nARG USED\nRUN --security=insecure x\nRUN --device=/dev/fuse y\n",
              build_args={"USED": "1", "EXTRA": "2", "HTTP_PROXY": "p", "Https_Proxy": "q"})
    (instr, reason), = graph.unsupported()  # (--security=insecure is gated by --allow instead)
    assert instr.line == 4 and "--device" in reason
    assert graph.unused_build_args() == ["EXTRA"]  # proxies in any case need no ARG (BuildKit's EqualFold)


def walk(ev: StageEvaluator, stage_instructions: list[I.Instruction]) -> list[I.Instruction]:
    out = []
    for instr in stage_instructions:
        x = ev.expand(instr)
        out.append(x)
        ev.apply(x)
    return out


def test_arg_scoping_env_over_arg_and_global_import() -> None:
    text = """\
ARG V=global
ARG ONLYGLOBAL=g
FROM a
RUN echo
ARG V
ARG LOCAL=l-$V
ENV LOCAL=env-wins E1=$LOCAL
ARG LOCAL=ignored
WORKDIR /w/$V/$ONLYGLOBAL
ARG TARGETARCH
USER ${LOCAL}
"""
    graph = g(text)
    st = graph.stages[0]
    ev = StageEvaluator(st, graph, base_env=["PATH=/bin"])
    out = walk(ev, st.instructions)
    env = [x for x in out if isinstance(x, I.Env)][0]
    assert env.pairs == (("LOCAL", "env-wins"), ("E1", "l-global"))  # ENV sees the env before it
    wd = [x for x in out if isinstance(x, I.Workdir)][0]
    assert wd.path == "/w/global/"  # global ARG not visible without a bare ARG
    user = [x for x in out if isinstance(x, I.User)][0]
    assert user.user == "env-wins"
    assert ev.run_env() == ["PATH=/bin", "LOCAL=env-wins", "E1=l-global", "V=global", "TARGETARCH=amd64"]
    assert ev.args_in_scope()["V"] == "global"


def test_build_arg_overrides_default_and_is_used() -> None:
    graph = g("FROM a\nARG X=1\nRUN echo $X\n", build_args={"X": "2", "Y": "3"})
    st = graph.stages[0]
    ev = StageEvaluator(st, graph)
    walk(ev, st.instructions)
    assert ev.args_in_scope() == {"X": "2"} and ev.used_build_args() == {"X"}
    assert ev.unused_build_args() == {"Y"}


def test_run_body_not_expanded_but_mounts_are() -> None:
    graph = g("FROM a\nARG D=/cache\nRUN --mount=type=cache,target=$D echo $D\n")
    st = graph.stages[0]
    ev = StageEvaluator(st, graph)
    out = walk(ev, st.instructions)
    run = out[1]
    assert isinstance(run, I.Run) and run.command == "echo $D" and run.mounts[0].target == "/cache"


def test_copy_expansion_and_heredoc_body() -> None:
    graph = g("FROM a\nENV N=x\nCOPY --chown=$N <<A <<'B' $N.txt /d/$N/\nhi $N \"q\"\nA\nraw $N\nB\n")
    st = graph.stages[0]
    ev = StageEvaluator(st, graph)
    copy = walk(ev, st.instructions)[1]
    assert isinstance(copy, I.Copy)
    assert (copy.sources, copy.dest, copy.chown) == (("x.txt",), "/d/x/", "x")
    assert [f.body for f in copy.heredocs] == ['hi x "q"\n', "raw $N\n"]


def test_expansion_error_names_file_and_line() -> None:
    graph = g("FROM a\n\nWORKDIR ${NOPE:?is required}\n")
    st = graph.stages[0]
    with pytest.raises(ContainerfileError) as e:
        StageEvaluator(st, graph).expand(st.instructions[0])
    assert str(e.value) == "Cf:3: failed to process \"${NOPE:?is required}\": NOPE: is required"


def test_child_stage_inherits_args_and_env() -> None:
    graph = g("FROM a AS base\nARG A=1\nENV E=2\nFROM base\nRUN x\n")
    parent = StageEvaluator(graph.stages[0], graph)
    walk(parent, graph.stages[0].instructions)
    child = StageEvaluator(graph.stages[1], graph, parent=parent)
    assert child.run_env() == ["E=2", "A=1"]


def test_expose_expands_into_several_ports() -> None:
    graph = g("FROM a\nARG P=\"80 443\"\nEXPOSE $P 53/udp\n")
    st = graph.stages[0]
    out = walk(StageEvaluator(st, graph), st.instructions)
    assert isinstance(out[1], I.Expose) and out[1].ports == ("80", "443", "53/udp")
