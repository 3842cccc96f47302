"""apply_layer: unpacks what it is given, and never anything outside its target."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybuild.errors import IntegrityError, UnsafeContentError
from pybuild.events import Event
from pybuild.oci.layer import Limits, apply_layer, write_layer

T = 1_700_000_000


def build_tar(*entries: tuple, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """entries: (kind, name, arg): kind file/dir/sym/link/fifo; arg = content or link target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for kind, name, *rest in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = T
            arg = rest[0] if rest else None
            data = None
            if kind == "file":
                data = arg if isinstance(arg, bytes) else b"payload"
                ti.size = len(data)
                ti.mode = rest[1] if len(rest) > 1 else 0o644
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            if len(rest) > 1 and isinstance(rest[-1], dict):
                ti.pax_headers = rest[-1]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(target, sentinel): the sentinel is a host directory beside the target that no layer
    may touch; the test ends by checking it is unchanged."""
    target = tmp_path / "root"
    target.mkdir()
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret").write_text("keep")
    before = snapshot(sentinel)
    yield target, sentinel
    assert snapshot(sentinel) == before, "something was written outside the target"


def snapshot(d: Path) -> list[tuple[str, int, bytes]]:
    out = []
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        out.append((str(p), st.st_mode, p.read_bytes() if p.is_file() and not p.is_symlink() else b""))
    return out


def apply(data: bytes, target: Path, **kw: object) -> str:
    return apply_layer(io.BytesIO(data), target, **kw)  # type: ignore[arg-type]


def test_round_trip_keeps_diff_id(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (src / "bin").mkdir()
    (src / "bin/tool").write_bytes(os.urandom(3 << 20))
    os.chmod(src / "bin/tool", 0o4755)
    os.link(src / "bin/tool", src / "bin/tool2")
    (src / "bin/sh").symlink_to("/bin/busybox")
    (src / "ro").mkdir()
    (src / "ro/f").write_text("x")
    os.chmod(src / "ro", 0o555)
    os.mkfifo(src / "fifo")
    for p in [*src.rglob("*"), src]:
        os.utime(p, (T, T), follow_symlinks=False)
    for compression in ("none", "gzip", "zstd"):
        blob = io.BytesIO()
        info = write_layer(src, blob, compression=compression)
        out = tmp_path / f"out-{compression}"
        out.mkdir()
        got = apply(blob.getvalue(), out, whiteouts="apply")
        assert got == info.diff_id
        again = write_layer(out, io.BytesIO())
        assert again.diff_id == info.diff_id
    assert (tmp_path / "out-none/bin/tool").stat().st_ino == (tmp_path / "out-none/bin/tool2").stat().st_ino


def test_diff_id_covers_the_whole_blob_including_padding(tmp_path: Path) -> None:
    data = build_tar(("file", "a", b"x"))
    assert len(data) == 10240  # tarfile pads to a full record
    assert apply(data, tmp_path) == "sha256:" + hashlib.sha256(data).hexdigest()
    gz = gzip.compress(data, mtime=0)
    (tmp_path / "b").mkdir()
    assert apply(gz, tmp_path / "b") == "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["../x", "/abs/../../x", "a/../../../x", "./../x", "//x"])
def test_names_are_normalised_inside_the_root(env: tuple[Path, Path], name: str) -> None:
    target, sentinel = env
    apply(build_tar(("file", name, b"contained")), target)
    assert (target / "x").read_bytes() == b"contained"


def test_absolute_symlink_then_entry_below_it_stays_inside(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    apply(build_tar(("sym", "d", str(sentinel)), ("file", "d/secret", b"pwned"), ("sym", "e", "/etc"),
                    ("file", "e/passwd", b"pwned")), target)
    assert (target / str(sentinel).lstrip("/") / "secret").read_bytes() == b"pwned"
    assert (target / "etc/passwd").read_bytes() == b"pwned"
    assert os.readlink(target / "d") == str(sentinel)  # links are stored verbatim


def test_relative_symlink_climbing_above_root_clamps(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    apply(build_tar(("dir", "a"), ("sym", "a/d", "../../../.."), ("file", "a/d/sentinel/secret", b"pwned")),
          target)
    assert (target / "sentinel/secret").read_bytes() == b"pwned"


def test_symlink_already_on_disk_is_resolved_inside(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    (target / "app").symlink_to(sentinel)
    apply(build_tar(("file", "app/secret", b"pwned")), target, whiteouts="apply")
    assert (target / str(sentinel).lstrip("/") / "secret").read_bytes() == b"pwned"


@pytest.mark.parametrize("link", ["../../etc/passwd", "../sentinel/secret", "/nonexistent"])
def test_hardlink_outside_or_missing_is_refused(env: tuple[Path, Path], link: str) -> None:
    target, sentinel = env
    with pytest.raises(UnsafeContentError, match="does not exist"):
        apply(build_tar(("link", "x", link)), target)
    assert not (target / "x").exists()


def test_hardlink_through_symlink_pointing_out_is_refused(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    with pytest.raises(UnsafeContentError):
        apply(build_tar(("sym", "l", str(sentinel)), ("link", "x", "l/secret")), target)


def test_hardlink_to_a_symlink_links_the_symlink(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    apply(build_tar(("sym", "s", str(sentinel / "secret")), ("link", "h", "s")), target)
    assert (target / "h").is_symlink() and (target / "h").lstat().st_ino == (target / "s").lstat().st_ino


def test_write_after_hardlink_does_not_write_through(env: tuple[Path, Path]) -> None:
    target, _ = env
    apply(build_tar(("file", "a", b"one"), ("link", "b", "a"), ("file", "a", b"two")), target)
    assert (target / "b").read_bytes() == b"one" and (target / "a").read_bytes() == b"two"


def test_file_over_symlink_replaces_the_link(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    apply(build_tar(("sym", "s", str(sentinel / "secret")), ("file", "s", b"new")), target)
    assert not (target / "s").is_symlink() and (target / "s").read_bytes() == b"new"


@pytest.mark.parametrize("entries", [
    (("sym", ".", "/"),), (("sym", "/", "/etc"),), (("file", "./", b"x"),), (("link", ".", "a"),)])
def test_root_entry_must_be_a_directory(env: tuple[Path, Path], entries: tuple) -> None:
    target, _ = env
    with pytest.raises(UnsafeContentError, match="root entry"):
        apply(build_tar(*entries), target)
    assert target.is_dir() and not target.is_symlink()


def test_root_directory_entry_is_fine(env: tuple[Path, Path]) -> None:
    target, _ = env
    apply(build_tar(("dir", "./"), ("file", "./a", b"x")), target)
    assert (target / "a").read_bytes() == b"x"


def test_symlink_loop_is_an_error(env: tuple[Path, Path]) -> None:
    target, _ = env
    with pytest.raises(UnsafeContentError, match="symbolic links"):
        apply(build_tar(("sym", "l1", "l2"), ("sym", "l2", "l1"), ("file", "l1/x", b"x")), target)


def test_whiteout_below_symlink_to_outside_deletes_nothing_there(env: tuple[Path, Path]) -> None:
    target, sentinel = env
    (target / "d").symlink_to(sentinel)
    (target / "sentinel").mkdir()
    (target / "sentinel/secret").write_text("lower")
    apply(build_tar(("file", "d/.wh.secret", b"")), target, whiteouts="apply")
    # never through the link: the sentinel keeps its file (checked by the fixture)
    assert (sentinel / "secret").exists()


@pytest.mark.parametrize("name", [".wh.", "d/.wh..", "d/.wh.."])
def test_invalid_whiteouts_are_refused(env: tuple[Path, Path], name: str) -> None:
    target, _ = env
    with pytest.raises(UnsafeContentError, match="invalid whiteout"):
        apply(build_tar(("file", name, b"")), target, whiteouts="apply")


def test_apply_mode_whiteouts_delete_and_opaque_empties(env: tuple[Path, Path]) -> None:
    target, _ = env
    apply(build_tar(("file", "a", b"1"), ("dir", "d"), ("file", "d/old", b"1"), ("dir", "d/sub"),
                    ("file", "d/sub/x", b"1"), ("dir", "keep"), ("file", "keep/y", b"1")), target)
    apply(build_tar(("file", ".wh.a", b""), ("dir", "d"), ("file", "d/new", b"2"),
                    ("file", "d/.wh..wh..opq", b""), ("file", "keep/.wh.y", b""),
                    ("file", ".wh.missing", b"")), target, whiteouts="apply")
    assert not (target / "a").exists()
    assert sorted(p.name for p in (target / "d").iterdir()) == ["new"]
    assert list((target / "keep").iterdir()) == []


def test_file_then_dir_then_file_at_one_path(env: tuple[Path, Path]) -> None:
    target, _ = env
    apply(build_tar(("file", "p", b"f"), ("dir", "p"), ("file", "p/c", b"c")), target)
    assert (target / "p/c").read_bytes() == b"c"
    apply(build_tar(("dir", "p"), ("file", "p/d", b"d")), target, whiteouts="apply")
    assert sorted(x.name for x in (target / "p").iterdir()) == ["c", "d"]  # dir over dir keeps content
    apply(build_tar(("file", "p", b"file again")), target, whiteouts="apply")
    assert (target / "p").read_bytes() == b"file again"


def test_gzip_bomb_over_the_byte_limit(env: tuple[Path, Path]) -> None:
    target, _ = env
    bomb = gzip.compress(build_tar(("file", "big", bytes(20 << 20))), mtime=0)
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeContentError, match="limit"):
        apply(bomb, target, limits=Limits(max_bytes=4 << 20))


def test_entry_count_limit(env: tuple[Path, Path]) -> None:
    target, _ = env
    data = build_tar(*[("file", f"f{i}", b"") for i in range(50)])
    with pytest.raises(UnsafeContentError, match="entries"):
        apply(data, target, limits=Limits(max_entries=10))


def test_pax_header_size_limit(env: tuple[Path, Path]) -> None:
    target, _ = env
    data = build_tar(("file", "a", b"x", 0o644, {"comment": "z" * 100_000}))
    with pytest.raises(UnsafeContentError, match="extended header"):
        apply(data, target, limits=Limits(max_header_bytes=64 << 10))


def test_overlay_xattrs_from_the_tar_are_ignored(env: tuple[Path, Path]) -> None:
    target, _ = env
    events: list[Event] = []
    data = build_tar(("dir", "d", None, {"SCHILY.xattr.trusted.overlay.opaque": "y"}))
    apply(data, target, on_event=events.append)
    assert any("trusted.overlay.opaque" in e.message for e in events)
    with pytest.raises(OSError):
        os.getxattr(target / "d", "trusted.overlay.opaque")


def test_truncated_and_corrupt_tars_are_integrity_errors(tmp_path: Path) -> None:
    data = build_tar(("file", "a", b"x" * 5000))
    with pytest.raises(IntegrityError, match="truncated"):
        apply(data[:2048], tmp_path)
    bad = bytearray(data)
    bad[0] ^= 0x01
    with pytest.raises(IntegrityError, match="checksum"):
        apply(bytes(bad), tmp_path)


def test_gnu_long_names_are_read(tmp_path: Path) -> None:
    name = "n" * 150 + "/" + "m" * 120
    data = build_tar(("file", name, b"gnu"), fmt=tarfile.GNU_FORMAT)
    apply(data, tmp_path)
    assert (tmp_path / name).read_bytes() == b"gnu"
