"""BuildKit's own parser goldens, negative cases and line numbers, read from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.builder.containerfile import parse
from pybuild.errors import ContainerfileError

BUILDKIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "buildkit"
pytestmark = pytest.mark.skipif(not BUILDKIT.is_dir(), reason=f"{BUILDKIT} is absent (no shared/ beside the clone)")


def _cases(sub: str) -> list[str]:
    d = BUILDKIT / sub
    return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def _read(p: Path) -> str:
    return p.read_bytes().decode("utf-8")


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_golden_dump_matches_buildkit(case: str) -> None:
    d = BUILDKIT / "testfiles" / case
    doc = parse(_read(d / "Dockerfile"), "Dockerfile")
    assert doc.dump() == _read(d / "result")


def test_all_33_goldens_are_present() -> None:
    assert len(_cases("testfiles")) == 33


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_negative_cases_are_rejected_by_the_parser(case: str) -> None:
    # BuildKit's parser itself (not only its instruction typing) rejects all four
    with pytest.raises(ContainerfileError) as info:
        parse(_read(BUILDKIT / "testfiles-negative" / case / "Dockerfile"), "Dockerfile")
    assert info.value.file == "Dockerfile" and info.value.line


def test_all_4_negative_cases_are_present() -> None:
    assert len(_cases("testfiles-negative")) == 4


def test_line_numbers_match_testfile_line() -> None:
    d = BUILDKIT / "testfile-line"
    doc = parse(_read(d / "Dockerfile"), "Dockerfile")
    expected: list[tuple[int, int]] = []
    whole = None
    for line in _read(d / "result").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if f[0] == "whole":
            whole = (int(f[1]), int(f[2]))
        elif f[0] == "instruction":
            expected.append((int(f[2]), int(f[3])))
    assert [(n.start_line, n.end_line) for n in doc.nodes] == expected
    assert whole == (doc.nodes[0].start_line, doc.nodes[-1].end_line)


def test_goldens_type_like_buildkit() -> None:
    # BuildKit types every golden except `flags` (unknown --user) and `health` (bare HEALTHCHECK)
    from pybuild.builder.containerfile.instructions import typed

    failing = {}
    for case in _cases("testfiles"):
        try:
            typed(parse(_read(BUILDKIT / "testfiles" / case / "Dockerfile"), "Dockerfile"))
        except ContainerfileError as e:
            failing[case] = str(e)
    assert failing == {"flags": "Dockerfile:3: COPY: unknown flag: user",
                       "health": "Dockerfile:4: HEALTHCHECK requires at least one argument"}
