"""RUN --security=insecure, gated as BuildKit gates it: only with `bud --allow security.insecure`,
and then with every capability and no seccomp filter (a mount inside the step works)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.integration, pytest.mark.root]

CAP_SYS_ADMIN = 21


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root, _ = build_busybox(tmp_path_factory.mktemp("insecure"))
    yield root


def _ctx(tmp: Path, run: str) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(f"FROM busybox\n{run}\n")
    return ctx


def _caps(out: Path) -> int:
    line = next(ln for ln in (out / "status").read_text().splitlines() if ln.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_insecure_needs_the_entitlement(store: Path, tmp_path: Path, isolation: str) -> None:
    ctx = _ctx(tmp_path, "RUN --security=insecure true")
    proc = pyb(store, "bud", "--isolation", isolation, str(ctx), check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"Error: {ctx / 'Containerfile'}:2: RUN --security=insecure needs the build to allow it: "
        "--allow security.insecure"]


def test_insecure_runs_with_every_capability(store: Path, tmp_path: Path, isolation: str) -> None:
    script = "grep CapEff /proc/self/status > /status && mkdir -p /m && mount -t tmpfs none /m && echo mounted > /ok"
    ctx = _ctx(tmp_path, f"RUN --security=insecure sh -c '{script}; umount /m'")
    out = tmp_path / "out"
    pyb(store, "bud", "--no-cache", "--isolation", isolation, "--allow", "security.insecure",
        "-o", f"type=local,dest={out}", str(ctx))
    assert _caps(out) >> CAP_SYS_ADMIN & 1
    assert (out / "ok").read_text() == "mounted\n"
    # the same step without --security=insecure: the default set, and mount is refused
    ctx = _ctx(tmp_path, f"RUN sh -c '{script} || true'")
    plain = tmp_path / "plain"
    pyb(store, "bud", "--no-cache", "--isolation", isolation, "--allow", "security.insecure",
        "-o", f"type=local,dest={plain}", str(ctx))
    assert not _caps(plain) >> CAP_SYS_ADMIN & 1
    assert not (plain / "ok").exists()
