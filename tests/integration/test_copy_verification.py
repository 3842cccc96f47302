"""A blob whose bytes do not match its digest never becomes visible at any destination,
whichever end does the checking: an OCI layout, the store, a registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, corrupt_biggest_layer, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]


def test_corrupt_source_blob_is_refused_everywhere(registry: object, tmp_path: Path) -> None:
    host = registry.host  # type: ignore[attr-defined]
    root, _ = build_busybox(tmp_path)
    layout = tmp_path / "layout"
    pyb(root, "push", "busybox", f"oci:{layout}:bb")
    digest = corrupt_biggest_layer(layout)
    # to a registry: the upload is refused, the tag never appears
    proc = pyb(root, "image", "copy", f"oci:{layout}:bb", f"docker://{host}/corrupt/bb:1", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    tags = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", f"docker://{host}/corrupt/bb"],
                          capture_output=True, text=True)
    assert tags.returncode != 0 or json.loads(tags.stdout)["Tags"] in (None, [])
    # to another layout: no blob with that digest, no ref
    other = tmp_path / "other"
    proc = pyb(root, "image", "copy", f"oci:{layout}:bb", f"oci:{other}:bb", check=False)
    assert proc.returncode != 0
    assert not (other / "blobs/sha256" / digest[7:]).exists()
    assert not (other / "index.json").exists() or "bb" not in (other / "index.json").read_text()
    # into a store: nothing recorded
    store = tmp_path / "store"
    proc = pyb(store, "pull", f"oci:{layout}:bb", check=False)
    assert proc.returncode != 0
    assert not (store / "blobs/sha256" / digest[7:]).exists()
    assert json.loads((store / "images.json").read_text()) == []
