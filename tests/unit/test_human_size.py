"""One size formatter for what the CLI shows (buildah's formattedSize, base 1000): `images`,
`prune`'s reclaimed space and the blob progress lines say a size the same way."""

from __future__ import annotations

from pybuild.cli import progress


def test_sizes_as_buildah_shows_them() -> None:
    assert [progress.human_size(n) for n in (0, 999, 1000, 1_234_567, 5 * 10**9, 2 * 10**12)] == \
        ["0 B", "999 B", "1 KB", "1.23 MB", "5 GB", "2 TB"]
    assert progress.human_size(None) == "?"


def test_blob_progress_uses_it() -> None:
    line = progress._blob_line({"digest": "sha256:" + "a" * 64, "done": 1_500_000, "total": 3_000_000})
    assert line == "Copying blob aaaaaaaaaaaa 1.5 MB/3 MB  50%"
