"""docs/ci.md's recipes use only what pybuild accepts: every cache value parses, every flag
exists on the verb it is given to (the CI systems themselves cannot run here)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from pybuild.builder.cache_spec import parse_cache_from, parse_cache_to
from pybuild.cli import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _concrete(value: str) -> str:
    """Placeholders ($REG, ${{ ... }}, $(params.x)) replaced by values a user would have."""
    value = re.sub(r"\$\{\{[^}]*\}\}", "x", value)
    value = re.sub(r"\$\([^)]*\)", "reg.example/team/x:y", value)
    value = value.replace("$REG", "reg.example/team")
    return re.sub(r"\$[A-Z_]+", "x", value)


def _values(flag: str) -> list[str]:
    return re.findall(rf"{flag}[= ]([^\s\\]+)", DOC.read_text())


@pytest.mark.parametrize("flag,parse", [("--cache-from", parse_cache_from), ("--cache-to", parse_cache_to)])
def test_every_cache_value_in_the_recipes_parses(flag: str, parse: object) -> None:
    values = _values(flag)
    assert len(values) >= 4
    for v in values:
        loc = parse(_concrete(v))  # type: ignore[operator]
        assert loc.ref


def test_every_flag_in_the_recipes_exists() -> None:
    known: set[str] = set()
    for verb in ("bud", "push", "login"):
        cmd = cli.get_command(click.Context(cli), verb)
        assert cmd is not None
        for p in cmd.params:
            known.update(o for o in p.opts if o.startswith("--"))
    text = DOC.read_text()
    used = set()
    for line in text.splitlines():
        if "pybuild" in line or line.strip().startswith(("--", "- --", "/opt/pybuild")):
            used.update(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", line))
    used -= {"--privileged"}  # docker run's, in the GitHub job's container options
    assert used and used <= known, used - known
