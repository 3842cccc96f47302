"""OCI layout: verified atomic blobs, no-follow reads, atomic index, refs, gc."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transport_helpers import make_image, make_multiarch

from pybuild.errors import DigestMismatch, ImageNotFound, IntegrityError
from pybuild.oci.digest import Digest
from pybuild.oci.layout import Layout
from pybuild.oci.spec import ANNOTATION_REF_NAME, OCI_MANIFEST, Descriptor, Index


def _visible(layout: Layout) -> list[str]:
    """Every file under blobs/ (including leftovers), relative to the layout."""
    out = []
    for dirpath, _, files in os.walk(layout.path / "blobs"):
        out += [os.path.relpath(os.path.join(dirpath, f), layout.path) for f in files]
    return sorted(out)


def test_create_writes_the_layout_files(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "l")
    assert json.loads((tmp_path / "l" / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((tmp_path / "l" / "index.json").read_bytes())["manifests"] == []
    assert layout.index().manifests == []
    # creating again keeps what is there
    make_image(layout, "x")
    assert Layout.create(tmp_path / "l").refs() == ["x"]


def test_open_refuses_non_layouts(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound):
        Layout.open(tmp_path)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(IntegrityError):
        Layout.open(tmp_path)


def test_put_and_read_blob(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    digest, size = layout.put_blob(io.BytesIO(b"content"))
    assert digest == Digest.of_bytes(b"content") and size == 7
    assert layout.has_blob(digest)
    assert (tmp_path / "blobs" / "sha256" / digest.hex).read_bytes() == b"content"
    assert layout.read_blob(digest) == b"content"
    with layout.open_blob(digest, 7) as r:
        assert r.read() == b"content"
    # idempotent
    assert layout.put_bytes(b"content") == (digest, 7)


def test_wrong_digest_leaves_nothing(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    wrong = Digest.of_bytes(b"other")
    with pytest.raises(DigestMismatch):
        layout.put_blob(io.BytesIO(b"content"), wrong, 7)
    assert _visible(layout) == []
    assert not layout.has_blob(wrong)


@pytest.mark.parametrize("size", [6, 8, 100])
def test_wrong_size_leaves_nothing(tmp_path: Path, size: int) -> None:
    layout = Layout.create(tmp_path)
    with pytest.raises(DigestMismatch):
        layout.put_blob(io.BytesIO(b"content"), Digest.of_bytes(b"content"), size)
    assert _visible(layout) == []


def test_stream_failure_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            raise OSError("network went away")

    layout = Layout.create(tmp_path)
    with pytest.raises(OSError):
        layout.put_blob(Broken())  # type: ignore[arg-type]
    assert _visible(layout) == []


@pytest.mark.parametrize("digest", ["sha256:../../x", "sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 32,
                                    "sha256/../../etc/passwd"])
def test_hostile_digest_strings_are_refused(tmp_path: Path, digest: str) -> None:
    layout = Layout.create(tmp_path)
    with pytest.raises(IntegrityError):
        layout.put_blob(io.BytesIO(b"x"), digest)
    with pytest.raises(IntegrityError):
        layout.open_blob(digest)
    with pytest.raises(IntegrityError):
        layout.has_blob(digest)
    assert _visible(layout) == []


def test_blob_symlink_to_host_file_is_refused(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    target = tmp_path / "secret"
    target.write_bytes(b"root:x:0:0\n")
    digest = Digest.of_bytes(b"root:x:0:0\n")
    os.symlink(target, layout.blob_path(digest))
    assert not layout.has_blob(digest)
    with pytest.raises(IntegrityError, match="symlink"):
        layout.open_blob(digest)
    with pytest.raises(IntegrityError):
        layout.read_blob(digest)


def test_blob_directory_symlink_is_refused(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path / "l")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    digest = Digest.of_bytes(b"data")
    (elsewhere / digest.hex).write_bytes(b"data")
    os.rmdir(layout.path / "blobs" / "sha256")
    os.symlink(elsewhere, layout.path / "blobs" / "sha256")
    with pytest.raises(IntegrityError):
        layout.open_blob(digest)


def test_fifo_blob_is_refused_without_hanging(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    digest = Digest.of_bytes(b"")
    os.mkfifo(layout.blob_path(digest))
    with pytest.raises(IntegrityError, match="regular"):
        layout.open_blob(digest)


def test_tampered_blob_fails_verification(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    digest, _ = layout.put_bytes(b"good")
    layout.blob_path(digest).write_bytes(b"evil")
    with pytest.raises(DigestMismatch):
        layout.read_blob(digest)
    with pytest.raises(DigestMismatch):
        layout.open_blob(digest, 4).read()
    with pytest.raises(DigestMismatch):
        layout.open_blob(digest, 5)  # size disagrees with the descriptor


def test_read_blob_limit(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    digest, _ = layout.put_bytes(b"x" * 100)
    with pytest.raises(IntegrityError, match="limit"):
        layout.read_blob(digest, limit=10)


def test_missing_blob(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    with pytest.raises(ImageNotFound):
        layout.open_blob(Digest.of_bytes(b"nope"))


def test_refs_set_replace_resolve_remove(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    first = make_image(layout, "app")
    second = make_image(layout, "app", layers=[{"f": b"2"}])
    other = make_image(layout, "other", layers=[{"f": b"3"}])
    entries = layout.index().manifests
    assert [e.ref_name for e in entries] == ["app", "other"]  # replaced, not duplicated
    assert layout.resolve("app").digest == second.digest != first.digest
    assert layout.resolve("other").digest == other.digest
    raw = json.loads((tmp_path / "index.json").read_bytes())
    assert raw["manifests"][0]["annotations"] == {ANNOTATION_REF_NAME: "app"}
    with pytest.raises(ImageNotFound):
        layout.resolve("nope")
    with pytest.raises(ImageNotFound, match="2 images"):
        layout.resolve(None)
    assert layout.remove_ref("app") and not layout.remove_ref("app")
    assert layout.resolve(None).digest == other.digest


def test_write_index_is_atomic_and_go_shaped(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    d = Descriptor(OCI_MANIFEST, Digest.of_bytes(b"m"), 1, annotations={ANNOTATION_REF_NAME: "x"})
    layout.write_index(Index([d]))
    assert (tmp_path / "index.json").read_bytes().startswith(
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[')
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]


def test_index_with_ambiguous_shape_is_refused(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":[],"layers":[]}')
    with pytest.raises(IntegrityError):
        layout.index()


def test_gc_removes_only_unreferenced(tmp_path: Path) -> None:
    layout = Layout.create(tmp_path)
    multi = make_multiarch(layout, "multi")
    single = make_image(layout, "single", layers=[{"s": b"s"}])
    stray, _ = layout.put_bytes(b"stray")
    kept, _ = layout.put_bytes(b"kept")
    before = set(layout.list_blobs())
    removed = layout.gc(keep=[kept])
    assert removed == [stray]
    assert set(layout.list_blobs()) == before - {stray}
    layout.remove_ref("multi")
    removed = set(layout.gc())
    assert multi.digest in removed and kept in removed
    assert single.digest not in removed
    # what is left is exactly what "single" needs
    assert set(layout.list_blobs()) == layout.reachable([single.digest])


def test_concurrent_writers_keep_every_ref(tmp_path: Path) -> None:
    """Several processes setting refs at once: the flock keeps every update."""
    Layout.create(tmp_path)
    script = (
        "import sys\n"
        "from pybuild.oci.layout import Layout\n"
        "from pybuild.oci.spec import Descriptor, OCI_MANIFEST\n"
        "l = Layout.open(sys.argv[1])\n"
        "for i in range(15):\n"
        "    d, n = l.put_bytes(f'{sys.argv[2]}-{i}'.encode())\n"
        "    l.set_ref(f'{sys.argv[2]}-{i}', Descriptor(OCI_MANIFEST, d, n))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"w{k}"]) for k in range(4)]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    refs = Layout.open(tmp_path).refs()
    assert sorted(refs) == sorted(f"w{k}-{i}" for k in range(4) for i in range(15))
