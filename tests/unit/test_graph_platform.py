"""A stage for another platform than the host's is reported before the build starts."""

from __future__ import annotations

from pybuild.builder.containerfile import parse
from pybuild.builder.graph import build_graph


def test_foreign_platform_stages_are_unsupported_host_ones_are_not() -> None:
    doc = parse("FROM --platform=linux/arm64 busybox AS a\nRUN true\n"
                "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN true\n"
                "FROM busybox\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n")
    graph = build_graph(doc, build_platform="linux/amd64", platform="linux/amd64")
    problems = graph.unsupported()
    assert [(i.line, reason) for i, reason in problems] == [
        (1, "FROM --platform=linux/arm64 (only the host's platform, linux/amd64, can be built)")]


def test_a_named_context_overrides_a_stage_of_the_same_name() -> None:
    doc = parse("FROM busybox AS deps\nRUN true\nFROM busybox\nCOPY --from=deps /x /x\n"
                "FROM deps AS again\n")
    graph = build_graph(doc, build_contexts={"deps": "/tmp/prebuilt"}, target=None)
    final = graph.final
    assert final.base_kind == "context" and final.deps == set()
    assert graph.resolve_from(graph.all_stages[1], "deps") == ("context", "deps")
    # the overridden stage is no longer needed
    assert [s.index for s in graph.stages] == [2]
