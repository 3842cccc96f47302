"""`pybuild pin` rewrites FROM images to the digests the registry serves, and the pinned
file still builds; stages, scratch and variables are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]


def test_pin_rewrites_from_lines_and_the_result_builds(registry: object, tmp_path: Path) -> None:
    host = registry.host  # type: ignore[attr-defined]
    root, _ = build_busybox(tmp_path)
    pyb(root, "push", "busybox", f"docker://{host}/pin/busybox:1")
    ctx = tmp_path / "pin-ctx"
    ctx.mkdir()
    original = (f"# a comment stays\nARG BASE={host}/pin/busybox:1\n"
                f"FROM {host}/pin/busybox:1 AS build\nRUN echo built > /f\n"
                "FROM build AS again\nFROM scratch AS empty\nFROM $BASE\nCOPY --from=build /f /f\n")
    (ctx / "Containerfile").write_text(original)
    dry = pyb(root, "pin", "--dry-run", str(ctx))
    assert (ctx / "Containerfile").read_text() == original
    assert f"{host}/pin/busybox:1 -> {host}/pin/busybox:1@sha256:" in dry.stdout
    assert "$BASE: not pinned (uses a build argument)" in dry.stderr
    pyb(root, "pin", str(ctx))
    text = (ctx / "Containerfile").read_text()
    digest = dry.stdout.split("@")[1].split()[0]
    assert f"FROM {host}/pin/busybox:1@{digest} AS build" in text
    assert "FROM build AS again" in text and "FROM scratch AS empty" in text and "FROM $BASE" in text
    assert text.startswith("# a comment stays\n")
    # the pinned file builds, from an empty store (the base is pulled by digest)
    other = tmp_path / "other"
    out = pyb(other, "bud", "-q", "-t", "pinned", str(ctx))
    assert out.stdout.strip()
