"""pybuild.find_containerfile / build_graph / pin: what `pybuild graph` and `pybuild pin`
print, as a library caller gets it."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

import pybuild

TEXT = "FROM alpine AS a\nRUN x\nFROM busybox AS b\nFROM scratch\nCOPY --from=a / /\nCOPY --from=b / /\n"


def test_find_containerfile_prefers_containerfile(tmp_path: Path) -> None:
    assert pybuild.find_containerfile(tmp_path) is None
    (tmp_path / "Dockerfile").write_text(TEXT)
    assert pybuild.find_containerfile(tmp_path) == tmp_path / "Dockerfile"
    (tmp_path / "Containerfile").write_text(TEXT)
    assert pybuild.find_containerfile(str(tmp_path)) == tmp_path / "Containerfile"


def test_build_graph_renders_every_format_and_prunes_to_target(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text(TEXT)
    graph = pybuild.build_graph(tmp_path / "Containerfile")
    data = json.loads(graph.render("json"))
    assert data["final"] == 2 and sorted(data["levels"][0]) == [0, 1]
    assert graph.render().startswith("stage #0 a: FROM image alpine")
    assert graph.render("dot").startswith("digraph build {")
    assert graph.render("mermaid").startswith("graph LR")
    only_a = pybuild.build_graph(tmp_path / "Containerfile", target="a").render()
    assert "stage #0 a (final)" in only_a and "busybox" not in only_a


def test_build_graph_sees_build_args_and_reports_warnings(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("ARG BASE=alpine\nFROM $BASE\nRUN x\n")
    assert "FROM image debian" in pybuild.build_graph(tmp_path / "Containerfile",
                                                      build_args={"BASE": "debian"}).render()
    assert "unused build args: NOPE" in pybuild.build_graph(tmp_path / "Containerfile",
                                                            build_args={"NOPE": "1"}).render()


def test_pin_uses_the_stores_digest_and_says_why_not(tmp_path: Path) -> None:
    store = pybuild.Store(tmp_path / "root", storage_driver="vfs")
    path = tmp_path / "Containerfile"
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc"))
    image = pybuild.import_tarball(tarball, "localhost/base", store=store)
    digest = image.manifest.digest
    path.write_text("FROM 127.0.0.1:1/nothing/here\nFROM localhost/base\n")
    pins = pybuild.pin(path, store=store, write=False, retry=0)
    assert [(p.image, p.pinned) for p in pins] == [("127.0.0.1:1/nothing/here", None),
                                                   ("localhost/base", f"localhost/base@{digest}")]
    assert pins[0].reason
    assert path.read_text() == "FROM 127.0.0.1:1/nothing/here\nFROM localhost/base\n"  # write=False
    pybuild.pin(path, store=store, retry=0)
    assert path.read_text() == f"FROM 127.0.0.1:1/nothing/here\nFROM localhost/base@{digest}\n"
    with pytest.raises(pybuild.UserError, match="cannot read"):
        pybuild.pin(tmp_path / "missing", store=store)
