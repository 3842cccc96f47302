"""What the next command (recover) and prune (sweep) remove of what dead processes left:
temp files of dead writers anywhere in the records, never a live writer's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pybuild.builder.recovery import recover, sweep
from pybuild.builder.store import Store


def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                         check=True).stdout
    return int(out)


def test_dead_writers_temp_files_go_live_ones_stay(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    dead, me = _dead_pid(), os.getpid()
    blobs = store.root / "blobs"
    killed = blobs / f".tmp-{dead}-abc"
    killed.write_bytes(b"x" * 100_000)  # a pull killed mid-blob
    writing = blobs / f".tmp-{me}-def"
    writing.write_bytes(b"y")
    legacy_old, legacy_new = blobs / ".tmp-oldformat1", blobs / ".tmp-oldformat2"
    legacy_old.write_bytes(b"z")
    legacy_new.write_bytes(b"z")
    old = time.time() - 7200
    os.utime(legacy_old, (old, old))
    record = store.root / f".tmp-{dead}-images.json-xyz"
    record.write_bytes(b"[")
    cache_tmp = store.root / "cache" / "keys" / "ab" / f".tmp-{dead}-key.json-1"
    cache_tmp.parent.mkdir(parents=True)
    cache_tmp.write_bytes(b"{")
    recover(store)
    assert not killed.exists() and not record.exists() and not legacy_old.exists()
    assert writing.exists() and legacy_new.exists()
    assert cache_tmp.exists()  # the next command looks only where a kill usually leaves them
    sweep(store)
    assert not cache_tmp.exists()
    assert writing.exists()
