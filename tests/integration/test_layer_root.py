"""Layers with what only root can make: devices, owners, real overlay mounts, and buildah's bytes."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybuild.oci.compress import decompressing_reader
from pybuild.oci.layer import apply_layer, write_layer
from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]
T = 1_700_000_000


def tar_of(entries: list[tuple[str, str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = T
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    done: list[Path] = []
    yield done
    for m in reversed(done):
        subprocess.run(["umount", "-l", str(m)], check=False)


def overlay(mounts: list[Path], merged: Path, lower: list[Path], upper: Path | None = None,
            work: Path | None = None) -> None:
    opts = "lowerdir=" + ":".join(str(p) for p in lower)
    if upper is not None and work is not None:
        opts += f",upperdir={upper},workdir={work}"
    merged.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"overlay mount unavailable: {r.stderr.strip()}")
    mounts.append(merged)


def test_devices_fifos_setuid_owners_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(src / "loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    os.mkfifo(src / "fifo", 0o640)
    (src / "suid").write_bytes(b"x")
    os.chown(src / "suid", 1234, 5678)
    os.chmod(src / "suid", 0o6755)
    (src / "sticky").mkdir()
    os.chmod(src / "sticky", 0o1777)
    (src / "big-ids").write_text("y")
    os.chown(src / "big-ids", 3_000_000, 4_000_000)  # beyond ustar's octal fields: PAX
    os.setxattr(src / "suid", "security.capability",
                bytes.fromhex("0100000200200000000000000000000000000000"))
    blob = io.BytesIO()
    info = write_layer(src, blob, timestamp=T)
    out = tmp_path / "out"
    out.mkdir()
    assert apply_layer(io.BytesIO(blob.getvalue()), out) == info.diff_id
    for name in ["null", "loop9", "fifo", "suid", "sticky", "big-ids"]:
        a, b = os.lstat(src / name), os.lstat(out / name)
        assert (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) == (b.st_mode, b.st_uid, b.st_gid, b.st_rdev), name
    assert os.getxattr(out / "suid", "security.capability") == os.getxattr(src / "suid", "security.capability")
    assert write_layer(out, io.BytesIO(), timestamp=T).diff_id == info.diff_id


def test_overlay_whiteouts_hide_lower_files_in_a_real_mount(tmp_path: Path, mounts: list[Path]) -> None:
    l1, l2 = tmp_path / "l1", tmp_path / "l2"
    l1.mkdir()
    l2.mkdir()
    apply_layer(io.BytesIO(tar_of([("file", "a", b"1"), ("file", "b", b"1"), ("dir", "d", b""),
                                   ("file", "d/old", b"1")])), l1)
    apply_layer(io.BytesIO(tar_of([("file", ".wh.a", b""), ("dir", "d", b""),
                                   ("file", "d/.wh..wh..opq", b""), ("file", "d/new", b"2")])), l2)
    st = os.lstat(l2 / "a")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(l2 / "d", "trusted.overlay.opaque") == b"y"
    merged = tmp_path / "merged"
    overlay(mounts, merged, [l2, l1])
    assert sorted(p.name for p in merged.iterdir()) == ["b", "d"]
    assert sorted(p.name for p in (merged / "d").iterdir()) == ["new"]


def test_upperdir_after_rm_gives_whiteout_entries(tmp_path: Path, mounts: list[Path]) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    apply_layer(io.BytesIO(tar_of([("file", "a", b"1"), ("dir", "d", b""), ("file", "d/old", b"1"),
                                   ("file", "keep", b"1")])), lower)
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    upper.mkdir()
    work.mkdir()
    overlay(mounts, merged, [lower], upper, work)
    (merged / "a").unlink()
    subprocess.run(["rm", "-rf", str(merged / "d")], check=True)
    (merged / "d").mkdir()
    (merged / "d/new").write_text("2")
    blob = io.BytesIO()
    write_layer(upper, blob, overlay_upper=True)
    with tarfile.open(fileobj=io.BytesIO(blob.getvalue())) as tf:
        got = [(m.name, m.type) for m in tf.getmembers()]
        assert not any("overlay" in k for m in tf.getmembers() for k in m.pax_headers)
    assert got == [(".wh.a", tarfile.REGTYPE), ("d", tarfile.DIRTYPE), ("d/.wh..wh..opq", tarfile.REGTYPE),
                   ("d/new", tarfile.REGTYPE)]
    # and it unpacks back into an overlay lower that shows the same view
    l2 = tmp_path / "l2"
    l2.mkdir()
    apply_layer(io.BytesIO(blob.getvalue()), l2)
    view = tmp_path / "view"
    overlay(mounts, view, [l2, lower])
    assert sorted(p.name for p in view.iterdir()) == ["d", "keep"]
    assert sorted(p.name for p in (view / "d").iterdir()) == ["new"]


def test_same_bytes_as_buildah(tmp_path: Path) -> None:
    """buildah (containers-storage, Go's archive/tar) and pybuild give one diff_id for one tree."""
    need_tool("buildah")
    ctx = tmp_path / "ctx"
    (ctx / "tree/sub/deep").mkdir(parents=True)
    (ctx / "tree/a").write_text("hello")
    (ctx / "tree/sub/deep/f").write_bytes(os.urandom(3000))
    (ctx / "tree/sub/link").symlink_to("/etc/passwd")
    os.link(ctx / "tree/a", ctx / "tree/sub/hard")
    (ctx / "tree" / ("n" * 120)).write_text("pax name")
    (ctx / "tree/sub/deep" / ("p" * 90)).mkdir()
    (ctx / "tree/sub/deep" / ("p" * 90) / ("q" * 60)).write_text("ustar prefix")
    (ctx / "tree/x.y").write_text("sorts after sub/")
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY tree /\n")
    root, run = tmp_path / "storage", tmp_path / "run"
    base = ["buildah", "--root", str(root), "--runroot", str(run), "--storage-driver", "vfs"]
    r = subprocess.run([*base, "bud", "-q", "--timestamp", str(T), "-t", "t", str(ctx)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"buildah bud failed here: {r.stderr.strip()[-300:]}")
    out = tmp_path / "oci"
    subprocess.run([*base, "push", "-q", "t", f"oci:{out}:t"], check=True, capture_output=True, timeout=300)
    import json

    index = json.loads((out / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((out / "blobs/sha256" / manifest_digest).read_text())
    layer = manifest["layers"][-1]["digest"].split(":")[1]
    with open(out / "blobs/sha256" / layer, "rb") as f:
        theirs = decompressing_reader(f).read()
    mine = io.BytesIO()
    write_layer(ctx / "tree", mine, timestamp=T)
    assert mine.getvalue() == theirs
