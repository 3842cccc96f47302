"""write_layer: a deterministic tar that Go, GNU tar and Python all read the same way."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybuild.oci.compress import decompressing_reader
from pybuild.oci.layer import OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, LayerInfo, write_layer
from tests.conftest import need_tool

T = 1_700_000_000


def layer_bytes(src: Path, **kw: object) -> tuple[LayerInfo, bytes]:
    buf = io.BytesIO()
    info = write_layer(src, buf, **kw)  # type: ignore[arg-type]
    return info, buf.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return tf.getmembers()


def make_tree(root: Path, reverse: bool = False) -> Path:
    items = [
        ("dir", "etc"), ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        ("dir", "usr/bin"), ("file", "usr/bin/tool", b"\x7fELF" + bytes(5000)),
        ("file", "a.txt", b"hello"), ("dir", "a"), ("file", "a/b", b""),
        ("link", "etc/mtab", "/proc/mounts"),
    ]
    if reverse:
        items.reverse()
    for kind, name, *rest in items:
        p = root / name
        if kind == "dir":
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                p.write_bytes(rest[0])  # type: ignore[arg-type]
            else:
                p.symlink_to(rest[0])  # type: ignore[arg-type]
    os.chmod(root / "usr/bin/tool", 0o4755)
    return root


def test_same_tree_same_diff_id_whatever_the_creation_order(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a")
    b = make_tree(tmp_path / "b", reverse=True)
    ia, da = layer_bytes(a, timestamp=T)
    ib, db = layer_bytes(b, timestamp=T)
    assert ia.diff_id == ib.diff_id and da == db
    assert ia.diff_id == "sha256:" + hashlib.sha256(da).hexdigest()
    assert ia.digest == ia.diff_id and ia.size == len(da) == ia.uncompressed_size
    assert ia.media_type == OCI_LAYER


def test_names_order_modes_like_buildah(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    _, data = layer_bytes(src, timestamp=T)
    ms = members(data)
    names = [m.name for m in ms]
    # walk order: a directory's names sorted bytewise, each directory before its children
    assert names == ["a", "a/b", "a.txt", "etc", "etc/mtab", "etc/passwd", "usr", "usr/bin",
                     "usr/bin/tool"]
    raw_names = [data[i:i + 100].split(b"\0")[0] for i in range(0, len(data), 512)][:3]
    assert raw_names[0] == b"a/"  # directories carry a trailing slash, no "./" prefix
    by = {m.name: m for m in ms}
    assert by["usr/bin/tool"].mode == 0o104755  # setuid kept; type bits in the field, as Go/moby write
    assert by["etc/mtab"].issym() and by["etc/mtab"].linkname == "/proc/mounts"
    assert all(m.mtime == T and m.uname == "" and m.gname == "" for m in ms)
    last = ms[-1]
    # two zero blocks end it, no padding to a 10 KiB record (Go's tar.Writer, buildah)
    assert len(data) == last.offset_data + -(-last.size // 512) * 512 + 1024


def test_listed_by_gnu_tar(tmp_path: Path) -> None:
    need_tool("tar")
    src = make_tree(tmp_path / "src")
    (src / ("long-" * 30)).write_text("x")
    out = tmp_path / "layer.tar"
    with open(out, "wb") as f:
        write_layer(src, f)
    listing = subprocess.run(["tar", "-tvf", str(out)], check=True, capture_output=True, text=True).stdout
    assert "usr/bin/tool" in listing and "etc/mtab -> /proc/mounts" in listing
    assert "long-" * 30 in listing


def test_long_and_non_ascii_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    deep = src / ("d" * 80) / ("e" * 80)
    deep.mkdir(parents=True)
    names = {
        "f" * 150: b"no slash: PAX path",
        ("d" * 80) + "/" + ("e" * 80) + "/" + "g" * 60: b"fits ustar prefix+name",
        ("d" * 80) + "/" + ("e" * 80) + "/" + "h" * 120: b"too long for both: PAX",
        "caf\u00e9-\u65e5\u672c": b"non-ascii",
    }
    for name, content in names.items():
        (src / name).write_bytes(content)
    (src / "lnk").symlink_to("t" * 200)
    _, data = layer_bytes(src, timestamp=T)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
        link = tf.getmember("lnk")
    assert got == names
    assert link.linkname == "t" * 200


def test_hardlinks_become_links_to_the_first_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "b").write_bytes(b"data")
    os.link(src / "b", src / "a")
    os.link(src / "b", src / "c")
    ms = members(layer_bytes(src)[1])
    assert [(m.name, m.type, m.linkname, m.size) for m in ms] == [
        ("a", tarfile.REGTYPE, "", 4), ("b", tarfile.LNKTYPE, "a", 0), ("c", tarfile.LNKTYPE, "a", 0)]


def test_timestamp_clamp_and_exclude(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    for p in [src, *src.rglob("*")]:
        os.utime(p, (T + 500, T + 500), follow_symlinks=False)
    os.utime(src / "a.txt", (T - 5, T - 5))
    ms = members(layer_bytes(src, clamp_mtime=T)[1])
    assert {m.mtime for m in ms} == {T, T - 5}
    ms = members(layer_bytes(src)[1])
    assert {m.mtime for m in ms} == {T + 500, T - 5}
    ms = members(layer_bytes(src, exclude=lambda p: p in ("usr", "a.txt"))[1])
    assert [m.name for m in ms] == ["a", "a/b", "etc", "etc/mtab", "etc/passwd"]


def test_sockets_are_skipped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(src / "sock"))
        assert [m.name for m in members(layer_bytes(src)[1])] == ["f"]
    finally:
        s.close()


def test_user_xattrs_are_kept(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    f = src / "f"
    f.write_text("x")
    try:
        os.setxattr(f, "user.test", b"v\x00\xff")
    except OSError:
        pytest.skip(f"{tmp_path} does not support user xattrs")
    (m,) = members(layer_bytes(src)[1])
    assert m.pax_headers["SCHILY.xattr.user.test"] == "v\x00\udcff"  # tarfile's surrogateescape


@pytest.mark.parametrize("compression,media_type", [("gzip", OCI_LAYER_GZIP), ("zstd", OCI_LAYER_ZSTD)])
def test_compressed_digests_in_one_pass(tmp_path: Path, compression: str, media_type: str) -> None:
    src = make_tree(tmp_path / "src")
    (src / "big").write_bytes(os.urandom(9 << 20))  # spans several internal buffers
    plain, raw = layer_bytes(src, timestamp=T)
    info, blob = layer_bytes(src, timestamp=T, compression=compression)
    assert info.media_type == media_type
    assert info.digest == "sha256:" + hashlib.sha256(blob).hexdigest() and info.size == len(blob)
    assert info.diff_id == plain.diff_id and info.uncompressed_size == len(raw)
    assert decompressing_reader(io.BytesIO(blob)).read() == raw
    assert layer_bytes(src, timestamp=T, compression=compression)[1] == blob  # reproducible


def test_files_across_the_writers_buffers_read_back_whole(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = {"a-small": os.urandom(100 << 10), "b-big": os.urandom(9 << 20), "c-after": os.urandom(300 << 10)}
    for name, content in data.items():
        (src / name).write_bytes(content)
    info, raw = layer_bytes(src, timestamp=T)
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest() and info.uncompressed_size == len(raw)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        for name, content in data.items():
            f = tf.extractfile(name)
            assert f is not None and f.read() == content


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    from pybuild.errors import StoreError

    with pytest.raises(StoreError, match="nope"):
        write_layer(tmp_path / "nope", io.BytesIO())


def test_empty_dir_is_two_zero_blocks(tmp_path: Path) -> None:
    _, data = layer_bytes(tmp_path)
    assert data == bytes(1024)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_long_name_with_xattrs_goes_to_pax_not_ustar_prefix(tmp_path: Path) -> None:
    """Go's writer: once a header needs PAX, a long name is a PAX path record (buildah's bytes)."""
    src = tmp_path / "src"
    d = src / ("d" * 80)
    d.mkdir(parents=True)
    f = d / ("e" * 60)
    f.write_text("x")
    try:
        os.setxattr(f, "user.k", b"v")
    except OSError:
        pytest.skip(f"{tmp_path} does not support user xattrs")
    _, data = layer_bytes(src)
    m = members(data)[1]
    assert m.name == f"{'d' * 80}/{'e' * 60}" and "path" in m.pax_headers


_ascii_name = st.text(st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/"), min_size=1,
                      max_size=100)


@settings(max_examples=300, deadline=None)
@given(name=_ascii_name, link=st.one_of(st.just(""), _ascii_name), mode=st.integers(0, 0o7777),
       uid=st.integers(0, 0o7777777), gid=st.integers(0, 0o7777777), size=st.integers(0, 0o77777777777),
       mtime=st.integers(0, 0o77777777777), typeflag=st.sampled_from(b"0123456"),
       dev=st.tuples(st.integers(0, 4095), st.integers(0, 1048575)))
def test_every_ustar_header_reads_back_with_a_valid_checksum(name: str, link: str, mode: int, uid: int,
                                                              gid: int, size: int, mtime: int, typeflag: int,
                                                              dev: tuple[int, int]) -> None:
    from pybuild.oci.tarwriter import tar_header

    block = tar_header(name.encode(), 0o100000 | mode, uid, gid, size, mtime, bytes([typeflag]),
                       link.encode(), *dev)
    assert len(block) == 512
    info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")  # raises on a bad checksum
    assert (info.name, info.linkname, info.mode, info.uid, info.gid, info.mtime, info.devmajor,
            info.devminor) == (name, link, 0o100000 | mode, uid, gid, mtime, *dev)
    if typeflag == ord("0"):
        assert info.size == size
