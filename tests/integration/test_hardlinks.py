"""Hard links stay one file: after a RUN writes (or chmods) through one name of a hard-linked
file of a lower layer, every name in the image shows the change and the link count is kept;
a name replaced by rename (sed -i) leaves the others; an untouched group is not recorded
again. Under both storage drivers; the image is unpacked with umoci."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = """\
FROM busybox
RUN mkdir -p /h/sub && echo data > /h/orig && ln /h/orig /h/link1 && ln /h/orig /h/sub/link2 \\
 && echo keep > /h/k && ln /h/k /h/k2 && echo r > /h/r && ln /h/r /h/r2 && echo m > /h/m && ln /h/m /h/m2
RUN echo more >> /h/link1 && chmod 600 /h/m && sed -i s/r/R/ /h/r && cat /h/orig /h/sub/link2
"""


def _layer_names(layout: Path, index: int) -> set[str]:
    idx = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / idx["manifests"][0]["digest"][7:]).read_bytes())
    blob = layout / "blobs/sha256" / manifest["layers"][index]["digest"][7:]
    with tarfile.open(blob) as tar:
        return {m.name.lstrip("./") for m in tar.getmembers()}


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
def test_write_through_one_name_keeps_the_link_group(tmp_path: Path, driver: str) -> None:
    need_tool("umoci")
    root, _ = build_busybox(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    out = pyb(root, "--storage-driver", driver, "bud", "-t", "links", str(ctx))
    assert "data\nmore\ndata\nmore\n" in out.stdout  # what the RUN itself saw through other names
    layout = tmp_path / "layout"
    pyb(root, "push", "links", f"oci:{layout}:latest")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True,
                   capture_output=True, timeout=300)
    h = bundle / "rootfs" / "h"
    group = [os.lstat(h / n) for n in ("orig", "link1", "sub/link2")]
    assert len({st.st_ino for st in group}) == 1 and group[0].st_nlink == 3
    assert (h / "sub" / "link2").read_text() == "data\nmore\n"
    m, m2 = os.lstat(h / "m"), os.lstat(h / "m2")
    assert m.st_ino == m2.st_ino and m2.st_mode & 0o777 == 0o600
    assert (h / "r").read_text() == "R\n" and (h / "r2").read_text() == "r\n"
    assert os.lstat(h / "r").st_ino != os.lstat(h / "r2").st_ino
    k, k2 = os.lstat(h / "k"), os.lstat(h / "k2")
    assert k.st_ino == k2.st_ino and k.st_nlink == 2
    last = _layer_names(layout, -1)
    assert {"h/orig", "h/link1", "h/sub/link2", "h/m", "h/m2", "h/r"} <= last
    assert not {"h/k", "h/k2"} & last, f"an untouched link group was recorded again: {sorted(last)}"
