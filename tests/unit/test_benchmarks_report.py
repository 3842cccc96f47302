"""The benchmark report: the ratio chart is a PNG of the right size; the table says which
targets are met and flags pybuild RSS over the limit."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:  # benchmarks/ is a package at the root, not installed
    sys.path.insert(0, str(PROJECT))

from benchmarks.chart import ratio_chart  # noqa: E402
from benchmarks.harness import Result, Sample, render_md  # noqa: E402


def _sample(wall: float, rss_mib: int = 40) -> Sample:
    return Sample(wall=wall, cpu=wall, user=wall, sys=0.0, maxrss_kib=rss_mib * 1024)


def test_chart_is_a_png_with_one_row_per_case() -> None:
    png = ratio_chart([("hello-cold", 0.5, 0.8), ("push", 3.0, 1.0), ("layer-none", 0.6, None)], width=500)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width == 500
    one = ratio_chart([("a", 1.0, None)], width=500)
    assert height - struct.unpack(">II", one[16:24])[1] == 2 * 22  # two more rows
    idat = png[png.index(b"IDAT") + 4:png.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)


def test_table_reports_targets_pairs_and_rss() -> None:
    met = Result("hello-cold", "d", "buildah", "pybuild bud", "buildah bud", 2, target=0.8, notes="iso")
    met.pybuild = [_sample(0.5), _sample(0.7)]
    met.peer = [_sample(1.0), _sample(1.0)]
    missed = Result("push", "d", "skopeo", "pybuild push", "skopeo copy", 2, target=1.0)
    missed.pybuild = [_sample(2.0, rss_mib=200), _sample(2.0)]
    missed.peer = [_sample(1.0), _sample(1.0)]
    s1, s2 = met.summary(), missed.summary()
    assert s1["ratio"] == 0.6 and s1["met"] is True and s1["pair_ratios"] == [0.5, 0.7]
    assert s2["met"] is False and s2["rss_ok"] is False
    md = render_md({"machine": {"cpus": 2}, "cases": {"push": s2, "hello-cold": s1}})
    lines = md.splitlines()
    hello = next(i for i, ln in enumerate(lines) if ln.startswith("| hello-cold |"))
    push = next(i for i, ln in enumerate(lines) if ln.startswith("| push |"))
    assert hello < push  # the order, not alphabetical
    assert "<= 0.8: met" in lines[hello] and "| iso |" in lines[hello]
    assert "<= 1.0: **missed**" in lines[push] and "200.0 **over**" in lines[push]
