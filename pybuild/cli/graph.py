"""`pybuild graph`: show the stages of a Containerfile, their steps and dependencies."""

from __future__ import annotations

from pathlib import Path

import click

from pybuild.cli.pflag import command


@command("graph")
@click.option("-f", "--file", "file_", type=click.Path(dir_okay=False), default=None,
              help="Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile).")
@click.option("--target", default=None, help="Show only the stages this stage needs.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Build argument (repeatable).")
@click.option("--build-context", "build_contexts", multiple=True, metavar="NAME=VALUE",
              help="Named build context (repeatable).")
@click.option("--platform", default=None, help="Target platform, e.g. linux/arm64.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "mermaid"]), default="text")
@click.argument("context", type=click.Path(file_okay=False), default=".")
def graph_cmd(file_: str | None, target: str | None, build_args: tuple[str, ...],
              build_contexts: tuple[str, ...], platform: str | None, fmt: str, context: str) -> None:
    """Print the build graph of CONTEXT's Containerfile (text, json, dot or mermaid)."""
    import pybuild

    path = Path(file_) if file_ else pybuild.find_containerfile(context)
    if path is None:
        raise click.UsageError(f"no Containerfile or Dockerfile in {context}; use -f")
    graph = pybuild.build_graph(path, build_args=_pairs(build_args, "--build-arg"), target=target,
                                build_contexts=_pairs(build_contexts, "--build-context"), platform=platform)
    for w in graph.warnings:
        click.echo(f"WARN: {w}", err=True)
    click.echo(graph.render(fmt), nl=False)


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not k:
            raise click.BadParameter(f"{item!r} is not K=V", param_hint=flag)
        if not sep:
            import os

            if k not in os.environ:
                continue
            v = os.environ[k]
        out[k] = v
    return out
