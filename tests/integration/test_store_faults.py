"""Faults the store meets: a full disk, processes killed (and left as zombies) mid-pull,
mid-run and mid-RUN with a secret. Each ends in one clean line, and the next command
opening the store removes what the dead left: temp blobs, scratch dirs, mounts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_fixtures import make_image, write_oci_layout

from pybuild.builder.fsck import check
from pybuild.builder.recovery import mounts_under
from pybuild.builder.store import Store
from tests.cli_helpers import PYBUILD, build_busybox, pyb
from tests.store_helpers import clean_failure

pytestmark = [pytest.mark.root, pytest.mark.integration]


@contextlib.contextmanager
def small_fs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` for the test's duration (a disk that fills up)."""
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _wait_for(cond: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert clean_failure(proc.returncode, proc.stderr) is None, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in line, line
    return line


def test_disk_full_is_one_line_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    big = tmp_path / "big"
    write_oci_layout(big, {"big": make_image("big", layer_size=3 << 20)})
    with small_fs(tmp_path / "small", "2m") as small:
        root = small / "root"
        pyb(root, "images")
        line = _one_error_line(pyb(root, "pull", f"oci:{big}:big", check=False), "No space left on device")
        assert "blob" in line
        assert check(Store(root), quiescent=True) == []
        filler = small / "filler"
        _fill(filler, 65536)
        small_image = tmp_path / "small-image"
        write_oci_layout(small_image, {"s": make_image("s")})
        filler.unlink()
        pyb(root, "pull", "-q", f"oci:{small_image}:s")
        _fill(filler, 4096)
        _one_error_line(pyb(root, "tag", _first_image(root), "another", check=False),
                        "No space left on device", "images.json")
        assert check(Store(root), quiescent=True) == []
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "data").write_bytes(os.urandom(1 << 20))
        (ctx / "Containerfile").write_text("FROM scratch\nCOPY data /data\n")
        _one_error_line(pyb(root, "bud", "-t", "full", str(ctx), check=False), "No space left on device")
        filler.unlink()
        assert check(Store(root), quiescent=True) == []
        pyb(root, "bud", "-q", "-t", "full", str(ctx))  # with room again, the same build works


def _fill(path: Path, chunk: int) -> None:
    """Write ``path`` until the filesystem is full (to within ``chunk`` bytes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)


def _first_image(root: Path) -> str:
    return Store(root).images()[0].id


def test_killed_pull_left_as_a_zombie_leaves_no_temp_blobs(tmp_path: Path) -> None:
    big = tmp_path / "big"
    write_oci_layout(big, {"big": make_image("big", layers=3, layer_size=24 << 20)})
    root = tmp_path / "root"
    pyb(root, "images")
    proc = subprocess.Popen([*PYBUILD, "--root", str(root), "pull", f"oci:{big}:big"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    blobs = root / "blobs"

    def writing() -> bool:
        return any(p.name.startswith(".tmp-") for p in blobs.iterdir())

    assert _wait_for(writing), "the pull never started writing a blob"
    os.kill(proc.pid, signal.SIGKILL)
    assert _wait_for(lambda: open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")
    try:
        assert writing(), "the pull finished before it was killed"
        pyb(root, "images")  # the killed pull is a zombie (not waited for): dead all the same
        assert not writing()
        assert check(Store(root), quiescent=True) == []
    finally:
        proc.wait()


def test_half_made_container_dirs_go_at_the_next_command(tmp_path: Path) -> None:
    root, _ = build_busybox(tmp_path)
    orphan = root / "containers" / ("ab" * 32)
    (orphan / "upper").mkdir(parents=True)
    (orphan / "upper" / "junk").write_bytes(b"x" * 4096)
    old = time.time() - 600
    os.utime(orphan, (old, old))
    fresh = root / "containers" / ("cd" * 32)  # being created right now by someone else
    fresh.mkdir()
    (root / "owners" / "999999999-1").touch()  # the creator that was killed (no such pid)
    pyb(root, "images")
    assert not orphan.exists()
    assert fresh.exists()


def test_killed_run_leaves_no_overlay_mounted(tmp_path: Path) -> None:
    root, _ = build_busybox(tmp_path)
    name = pyb(root, "from", "busybox").stdout.strip().splitlines()[-1]
    proc = subprocess.Popen([*PYBUILD, "--root", str(root), "run", name, "--", "sleep", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: any("/containers/" in m for m in mounts_under(str(root)))), "never mounted"
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    pyb(root, "images")
    assert mounts_under(str(root)) == []
    pyb(root, "run", name, "--", "true")  # the container still works
    pyb(root, "rm", name)
    assert check(Store(root), quiescent=True) == []


def test_secret_is_never_on_the_stores_disk_even_when_killed(tmp_path: Path) -> None:
    root, _ = build_busybox(tmp_path)
    value = b"s3cr3t-" + os.urandom(8).hex().encode()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(value)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok "
                                       "> /dev/null && sleep 4\n")
    proc = subprocess.Popen([*PYBUILD, "--root", str(root), "bud", "--secret", f"id=tok,src={secret}",
                             str(ctx)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: any("-secret-" in p.name for p in (root / "tmp").iterdir())), "no secret step"
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    store_dev = os.stat(root).st_dev
    on_disk = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if st.st_dev == store_dev and st.st_size < 1 << 20 and value in Path(p).read_bytes():
                    on_disk.append(p)
    assert on_disk == []
    pyb(root, "images")
    assert not any("-secret-" in p.name for p in (root / "tmp").iterdir())
    assert mounts_under(str(root)) == []
