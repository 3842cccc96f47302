"""`python -m benchmarks --smoke`: every case runs once on small inputs and the report is written.

No timing is asserted (CI machines vary); what is checked is that every case of the issue
ran with both tools and produced a ratio, and that the table and the chart were written.
BuildKit (docker.io) is optional: with it, every build case has a third side and a
pybuild/BuildKit ratio; without it, the report says BuildKit was skipped and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bud_helpers import need_tool

PROJECT = Path(__file__).resolve().parents[2]

EXPECTED = ["hello-cold", "hello-cached", "multistage-cold", "multistage-cached", "copymany-cold",
            "copymany-cached", "copymany-changed", "biglayer-cold", "push", "pull", "pull-oci", "fresh-runner",
            "fresh-runner-multistage"]
BUILDS = EXPECTED[:8]


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.root
@pytest.mark.integration
def test_smoke_runs_every_case_and_writes_the_report(tmp_path: Path) -> None:
    for tool in ("pybuild", "buildah", "skopeo", "docker-registry", "runc"):
        need_tool(tool)
    results = tmp_path / "results"
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--results", str(results)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((results / "results.json").read_text())
    expected = EXPECTED + ["run20-private", "run20-host"]
    if _has_user("pybuild-test"):
        expected += ["rootless-hello-cold", "rootless-hello-cached"]  # where setup.sh made the CI user
    if os.path.exists("/usr/bin/qemu-aarch64-static"):
        expected += ["arm64-cold", "multistage-2platforms"]  # listed where qemu-user-static is installed
    for name in expected:
        case = data["cases"][name]
        assert case["runs"] == 1
        assert case["pybuild_wall_s"] > 0 and case["peer_wall_s"] > 0
        assert case["ratio"] is not None
        assert case["pybuild_maxrss_mib"] > 0
    table = (results / "results.md").read_text()
    for name in expected:
        assert f"| {name} |" in table
    assert "pybuild isolation:" in table
    from benchmarks.dockerd import missing

    if missing():
        assert f"BuildKit: skipped: {missing()}" in table
    else:
        for name in BUILDS:
            assert data["cases"][name]["buildkit_ratio"] is not None
            assert data["cases"][name]["buildkit_wall_s"] > 0
        assert "## pybuild vs buildah vs BuildKit" in table and "| hello-cached | 1 |" in table
    assert (results / "results.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
