"""Reading a Containerfile without building it: its build graph (``pybuild graph``) and its
FROM images pinned to digests (``pybuild pin``).

Public (re-exported by ``pybuild``); the parser, graph and pinning live in ``pybuild.builder``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybuild.api import Store
    from pybuild.builder.graph import StepGraph
    from pybuild.builder.pin import Pin

StrPath = str | os.PathLike[str]


def find_containerfile(context: StrPath) -> Path | None:
    """``CONTEXT/Containerfile``, else ``CONTEXT/Dockerfile``; None when neither is a file."""
    for name in ("Containerfile", "Dockerfile"):
        if (Path(context) / name).is_file():
            return Path(context) / name
    return None


@dataclass(frozen=True)
class BuildGraph:
    """The stages of a Containerfile, their steps and dependencies, and what parsing warned of."""

    graph: StepGraph
    warnings: list[str] = field(default_factory=list)

    def render(self, format: str = "text") -> str:
        """The graph as ``text``, ``json``, ``dot`` (Graphviz) or ``mermaid``."""
        from pybuild.builder.graph_render import render

        return render(self.graph, format)


def build_graph(file: StrPath, *, target: str | None = None, build_args: Mapping[str, str] | None = None,
                build_contexts: Mapping[str, str] | None = None, platform: str | None = None) -> BuildGraph:
    """The build graph of the Containerfile ``file``: only the stages ``target`` needs when
    given, with ``build_args`` and named ``build_contexts`` as bud would see them."""
    from pybuild.builder.containerfile import parse_file
    from pybuild.builder.graph import build_graph as make

    doc = parse_file(Path(file), os.fspath(file))
    graph = make(doc, build_args=dict(build_args or {}), target=target, build_contexts=dict(build_contexts or {}),
                 platform=platform)
    return BuildGraph(graph, list(doc.warnings))


def pin(file: StrPath, *, store: Store, write: bool = True, **registry_options: Any) -> list[Pin]:
    """Pin every FROM image of ``file`` to the digest it has now: the store's copy when it
    came from a registry, else the registry's. Rewrites the file unless ``write`` is false;
    each Pin says ``image``, ``pinned`` (``image@digest``) or why not (``reason``)."""
    from pybuild.builder.pin import pin_file
    from pybuild.errors import PybuildError
    from pybuild.oci.registry.transport import inspect
    from pybuild.remote import registry_options as options_of

    def resolve(image: str) -> str | None:
        local = store.find_image(image)
        if local is not None and local.manifest:
            return str(local.manifest.digest)
        try:
            return str(inspect(image, options_of(registry_options))["digest"])
        except PybuildError:
            return None

    return pin_file(Path(file), resolve, write=write)


__all__ = ["BuildGraph", "build_graph", "find_containerfile", "pin"]
