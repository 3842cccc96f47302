"""A stage for another platform than the host's is reported before the build starts."""

from __future__ import annotations

from pybuild.builder.containerfile import parse
from pybuild.builder.graph import build_graph


def test_foreign_platform_stages_are_built_each_expanded() -> None:
    # any platform can be built now (the executor asks whether its RUN steps can run here)
    doc = parse("FROM --platform=linux/arm64 busybox AS a\nRUN true\n"
                "FROM --platform=$BUILDPLATFORM busybox AS b\nRUN true\n"
                "FROM busybox\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n")
    graph = build_graph(doc, build_platform="linux/amd64", platform="linux/s390x")
    assert graph.unsupported() == []
    assert [s.platform for s in graph.stages] == ["linux/arm64", "linux/amd64", None]


def test_a_named_context_overrides_a_stage_of_the_same_name() -> None:
    doc = parse("FROM busybox AS deps\nRUN true\nFROM busybox\nCOPY --from=deps /x /x\n"
                "FROM deps AS again\n")
    graph = build_graph(doc, build_contexts={"deps": "/tmp/prebuilt"}, target=None)
    final = graph.final
    assert final.base_kind == "context" and final.deps == set()
    assert graph.resolve_from(graph.all_stages[1], "deps") == ("context", "deps")
    # the overridden stage is no longer needed
    assert [s.index for s in graph.stages] == [2]
