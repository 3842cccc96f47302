"""A build's own working containers are mounted ``volatile`` (issue 19): unmounting a writable
overlay otherwise syncs the store's whole filesystem, 60-80 ms a step on a busy machine. A
crash leaves such a container to recovery, which removes it. A `pybuild from` container, which
outlives the command and may be mounted again after a crash, keeps the syncing mount."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.bud_helpers import context, make_store


def _volatile(mountinfo_line: str) -> bool:
    """Whether the mount's super options say volatile (6.x kernels show it as fsync=volatile)."""
    options = set(mountinfo_line.split(" - ")[1].split()[2].split(","))
    return bool(options & {"volatile", "fsync=volatile"})


@pytest.mark.root
def test_a_build_step_runs_on_a_volatile_overlay(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    ctx = context(tmp_path, 'FROM busybox\nRUN grep " / / " /proc/self/mountinfo\n', {})
    out = store.bud(ctx, "--no-cache").stdout
    root = next(line for line in out.splitlines() if " / / " in line and " - overlay " in line)
    assert _volatile(root)


@pytest.mark.root
def test_a_working_container_keeps_a_syncing_mount(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    ctr = store.run("from", "busybox").stdout.strip()
    mountpoint = store.run("mount", ctr).stdout.split()[-1]
    try:
        line = next(ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                    if ln.split()[4] == mountpoint)
        assert not _volatile(line)
    finally:
        store.run("umount", ctr)
        store.run("rm", ctr)
