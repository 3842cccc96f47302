"""Opening a store scans nothing unless a registered owner died; a killed process's
leftovers go at the next open; an older pybuild's store is recovered once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pybuild
from pybuild.builder import container, leases, owners, recovery
from pybuild.fsutil import process_start


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                         text=True, check=True).stdout
    return int(out)


def _forbid_scans(monkeypatch: pytest.MonkeyPatch) -> None:
    def scan(*_: object) -> None:
        raise AssertionError("opening the store scanned it")

    for module, name in ((recovery, "recover"), (recovery, "clean_scratch"), (recovery, "clean_temp_files"),
                         (recovery, "recover_networks"), (recovery, "remove_orphan_containers"),
                         (leases, "expire"), (container, "cleanup_dead")):
        monkeypatch.setattr(module, name, scan)


def test_opening_with_only_live_owners_scans_and_changes_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    pybuild.Store(root)  # made, marked, and this process registered
    other = subprocess.Popen(["sleep", "30"])
    try:
        (root / "owners" / owners.entry_name(other.pid, process_start(other.pid))).touch()  # a live build
        before = _tree(root)
        _forbid_scans(monkeypatch)
        pybuild.Store(root)
        pybuild.Store(root).images()
        assert _tree(root) == before
    finally:
        other.kill()
        other.wait()


_KILLED = """
import os, sys, time
import pybuild
s = pybuild.Store(sys.argv[1])
scratch = s.scratch_dir("work")
(s.root / "blobs" / f".tmp-{os.getpid()}-half").write_bytes(b"x" * 1000)
s.hold(blobs=["sha256:" + "1" * 64])
print(scratch, flush=True)
time.sleep(60)
"""


def test_a_killed_processs_leftovers_go_at_the_next_open(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pybuild.Store(root)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    scratch = Path(proc.stdout.readline().strip())
    entry = root / "owners" / owners.entry_name(proc.pid, process_start(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert scratch.is_dir() and entry.exists() and list((root / "leases").glob("*.json"))
    pybuild.Store(root)
    assert not scratch.exists()
    assert not [p for p in (root / "blobs").iterdir() if p.name.startswith(".tmp-")]
    assert not list((root / "leases").glob("*.json"))
    assert not entry.exists()  # forgotten once recovered: the next open scans nothing


def test_a_clean_exit_unregisters_and_a_forked_childs_exit_does_not(tmp_path: Path) -> None:
    root = tmp_path / "root"
    script = ("import os, sys, pybuild\n"
              "s = pybuild.Store(sys.argv[1])\n"
              "pid = os.fork()\n"
              "if pid == 0:\n    sys.exit(0)\n"  # runs atexit in the child
              "os.waitpid(pid, 0)\n"
              "print(len(os.listdir(s.root / 'owners')))\n")
    out = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"  # still registered after its child exited
    assert os.listdir(root / "owners") == []  # gone with its own clean exit


def test_an_older_pybuilds_store_is_recovered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    pybuild.Store(root)
    shutil.rmtree(root / "owners")  # as an older pybuild left it: leftovers, no owner records
    dead = _dead_pid()
    left = root / "tmp" / f"{dead}-work-abc"
    left.mkdir()
    (root / "blobs" / f".tmp-{dead}-x").write_bytes(b"x")
    pybuild.Store(root)
    assert not left.exists() and not (root / "blobs" / f".tmp-{dead}-x").exists()
    assert (root / "owners").is_dir() and (root / "owners").stat().st_mode & 0o777 == 0o700
    _forbid_scans(monkeypatch)
    pybuild.Store(root)  # marked: no second full recovery


def test_a_recycled_pid_is_a_dead_owner(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pybuild.Store(root)
    me = os.getpid()
    stale = root / "owners" / owners.entry_name(me, (process_start(me) or 0) + 1)  # my PID, earlier process
    stale.touch()
    left = root / "tmp" / f"{_dead_pid()}-work-abc"
    left.mkdir()
    t = time.monotonic()
    pybuild.Store(root)
    assert time.monotonic() - t < 10
    assert not stale.exists() and not left.exists()


def test_prune_sweep_forgets_the_dead_owners_it_recovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    store = pybuild.Store(root)
    dead = root / "owners" / owners.entry_name(_dead_pid(), 1)
    dead.touch()
    left = root / "tmp" / f"{dead.name.split('-')[0]}-work-abc"
    left.mkdir()
    recovery.sweep(store)
    assert not left.exists() and not dead.exists()
    _forbid_scans(monkeypatch)
    pybuild.Store(root)  # nothing left to recover
