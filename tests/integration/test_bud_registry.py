"""`pybuild bud` with a FROM image that only a registry has: pulled (with the registry flags
when the registry wants credentials), then built on."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import build_busybox, images, pyb
from registry_fixtures import PASSWORD, USER, Registry

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_busybox(tmp_path_factory.mktemp("bud-registry"))


def _context(tmp_path: Path, base_ref: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {base_ref}\nRUN echo built-on-pulled > /hello\nCMD [\"cat\", \"/hello\"]\n")
    return ctx


def test_from_a_local_registry_pulls_and_builds(base: tuple[Path, str], registry: Registry, tmp_path: Path) -> None:
    root, image_id = base
    pyb(root, "push", "busybox", f"docker://{registry.host}/busybox:latest")
    fresh = tmp_path / "fresh"
    out = pyb(fresh, "bud", "-t", "app", str(_context(tmp_path, f"{registry.host}/busybox")))
    by_name = {n: i for i in images(fresh) for n in i["names"]}  # type: ignore[attr-defined]
    assert by_name[f"{registry.host}/busybox:latest"]["id"] == image_id
    app = by_name["localhost/app:latest"]
    assert out.stdout.strip().splitlines()[-1] == app["id"]
    # the base's layers are under the new image's: 3 from busybox, 1 from the RUN
    history = pyb(fresh, "inspect", "--format", "{{json .OCIv1.RootFS.DiffIDs}}", "app").stdout
    base_ids = pyb(fresh, "inspect", "--format", "{{json .OCIv1.RootFS.DiffIDs}}", image_id).stdout
    assert history.startswith(base_ids.strip()[:-1])


def test_from_a_registry_that_wants_credentials_uses_the_flags(base: tuple[Path, str], basic_registry: Registry,
                                                               authfile: Path, tmp_path: Path) -> None:
    root, image_id = base
    pyb(root, "push", "--creds", f"{USER}:{PASSWORD}", "busybox", f"docker://{basic_registry.host}/team/busybox:1")
    ctx = _context(tmp_path, f"{basic_registry.host}/team/busybox:1")
    fresh = tmp_path / "fresh"
    refused = pyb(fresh, "bud", "-t", "app", str(ctx), check=False)
    assert refused.returncode != 0
    assert "Containerfile:1" in refused.stderr and "Traceback" not in refused.stderr
    out = pyb(fresh, "bud", "--creds", f"{USER}:{PASSWORD}", "--tls-verify=false", "-t", "app", str(ctx))
    assert out.returncode == 0
    names = {n for i in images(fresh) for n in i["names"]}  # type: ignore[attr-defined]
    assert {f"{basic_registry.host}/team/busybox:1", "localhost/app:latest"} <= names
