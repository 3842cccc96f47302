"""`pybuild graph` output and the golden Containerfile cases under tests/golden/containerfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pybuild.builder.containerfile import parse_file
from pybuild.builder.graph import build_graph
from pybuild.builder.graph_render import render
from pybuild.cli.graph import graph_cmd

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "containerfile"


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir()) if GOLDEN.is_dir() else [])
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_golden_cases(case: str, fmt: str) -> None:
    d = GOLDEN / case
    graph = build_graph(parse_file(d / "Containerfile", "Containerfile"), platform="linux/amd64",
                        build_platform="linux/amd64")
    assert render(graph, fmt) == (d / f"expected.{'json' if fmt == 'json' else 'txt'}").read_text()


def _ctx(tmp_path: Path) -> Path:
    (tmp_path / "Containerfile").write_text(
        "FROM alpine AS a\nRUN x\nFROM busybox AS b\nFROM scratch\nCOPY --from=a / /\nCOPY --from=b / /\n")
    return tmp_path


def test_cli_text_and_target(tmp_path: Path) -> None:
    r = CliRunner().invoke(graph_cmd, ["--target", "a", str(_ctx(tmp_path))])
    assert r.exit_code == 0, r.output
    assert "stage #0 a (final): FROM image alpine" in r.output and "busybox" not in r.output


def test_cli_json_parallel_levels(tmp_path: Path) -> None:
    r = CliRunner().invoke(graph_cmd, ["--format", "json", str(_ctx(tmp_path))])
    data = json.loads(r.output)
    assert data["levels"] == [[0, 1], [2]] and data["stages"][2]["deps"] == [0, 1]


@pytest.mark.parametrize(("fmt", "needle"), [("dot", '"s0" -> "s2"'), ("mermaid", "s0 -->|--from| s2")])
def test_cli_drawings(tmp_path: Path, fmt: str, needle: str) -> None:
    r = CliRunner().invoke(graph_cmd, ["--format", fmt, str(_ctx(tmp_path))])
    assert r.exit_code == 0 and needle in r.output


def test_cli_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM a\nCOPY --from=nope:1 --bogus / /\n")
    r = CliRunner().invoke(graph_cmd, [str(tmp_path)])
    assert r.exit_code != 0
    assert "Containerfile:2: COPY: unknown flag: bogus" in str(r.exception)


def test_cli_build_arg(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("ARG V=1\nFROM img:$V\n")
    r = CliRunner().invoke(graph_cmd, ["--build-arg", "V=2", str(tmp_path)])
    assert "FROM image img:2" in r.output
