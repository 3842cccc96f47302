"""`pybuild sign` / `verify` against a real registry: cosign's storage format (a
sha256-HEX.sig image of simple-signing layers), signatures that accumulate, and refusals
for the wrong key or an image moved under the tag."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb

pytestmark = [pytest.mark.root, pytest.mark.integration]


def _skopeo_raw(ref: str) -> dict[str, object]:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", ref], check=True,
                         capture_output=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_sign_and_verify(registry: object, tmp_path: Path) -> None:
    host = registry.host  # type: ignore[attr-defined]
    root, _ = build_busybox(tmp_path)
    pyb(root, "push", "busybox", f"docker://{host}/signed/busybox:1")
    keys = tmp_path / "keys"
    keys.mkdir()
    pyb(root, "generate-key-pair", "--output-key-prefix", str(keys / "a"))
    pyb(root, "generate-key-pair", "--output-key-prefix", str(keys / "b"))
    assert oct((keys / "a.key").stat().st_mode & 0o777) == "0o600"
    out = pyb(root, "sign", "--key", str(keys / "a.key"), "-a", "build=42", f"docker://{host}/signed/busybox:1")
    digest = out.stdout.split()[-1]
    # cosign's layout: the tag sha256-HEX.sig, simple-signing layers with the signature annotation
    sig = _skopeo_raw(f"docker://{host}/signed/busybox:sha256-{digest[7:]}.sig")
    [layer] = sig["layers"]  # type: ignore[misc]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert "dev.cosignproject.cosign/signature" in layer["annotations"]
    ok = pyb(root, "verify", "--key", str(keys / "a.pub"), f"{host}/signed/busybox:1")
    [claim] = json.loads(ok.stdout)
    assert claim["critical"]["image"]["docker-manifest-digest"] == digest
    assert claim["critical"]["identity"]["docker-reference"] == f"{host}/signed/busybox"
    assert claim["optional"] == {"build": "42"}
    bad = pyb(root, "verify", "--key", str(keys / "b.pub"), f"{host}/signed/busybox:1", check=False)
    assert bad.returncode != 0 and "no signature" in bad.stderr and "Traceback" not in bad.stderr
    # a second signer adds a layer; both keys verify
    pyb(root, "sign", "--key", str(keys / "b.key"), f"{host}/signed/busybox:1")
    sig = _skopeo_raw(f"docker://{host}/signed/busybox:sha256-{digest[7:]}.sig")
    assert len(sig["layers"]) == 2  # type: ignore[arg-type]
    pyb(root, "verify", "--key", str(keys / "a.pub"), f"{host}/signed/busybox:1")
    pyb(root, "verify", "--key", str(keys / "b.pub"), f"{host}/signed/busybox:1")
    # another image under the same tag is not covered by the old signatures
    ctx = tmp_path / "other"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN echo changed > /changed\n")
    pyb(root, "bud", "-q", "-t", "changed", str(ctx))
    pyb(root, "push", "changed", f"docker://{host}/signed/busybox:1")
    moved = pyb(root, "verify", "--key", str(keys / "a.pub"), f"{host}/signed/busybox:1", check=False)
    assert moved.returncode != 0 and "no signature" in moved.stderr
