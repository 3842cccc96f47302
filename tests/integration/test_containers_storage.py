"""Handing images to podman: push to containers-storage:, podman runs it; pull it back.

Each test uses a podman store of its own (``--root``/``--runroot`` under tmp_path, spelled
``containers-storage:[overlay@ROOT+RUNROOT]NAME`` to pybuild) so the host's stays clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.conftest import need_tool

pytestmark = [pytest.mark.integration, pytest.mark.root]


class Podman:
    """podman over a private store; runs with runc (crun refuses to run on this host)."""

    def __init__(self, base: Path) -> None:
        need_tool("podman")
        need_tool("runc")
        # podman wants a runroot of at most 50 characters: pytest's tmp_path is longer
        self.base = Path(tempfile.mkdtemp(prefix="pbcs-"))
        self.root, self.runroot = base / "cs-root", self.base / "run"
        self.store = f"[overlay@{self.root}+{self.runroot}]"

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["podman", "--root", str(self.root), "--runroot", str(self.runroot),
                               "--storage-driver", "overlay", *args], capture_output=True, text=True,
                              timeout=300, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed: {proc.stderr}")
        return proc

    def run(self, image: str, *argv: str) -> str:
        # no network (the test makes none); rlimits within this host's hard limits: podman's
        # defaults (nofile 1048576) need CAP_SYS_RESOURCE, which a CI sandbox may not grant
        return self("--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                    "--ulimit", "nproc=1024:1024", image, *argv).stdout

    def close(self) -> None:
        self("rmi", "--all", "--force", check=False)  # (not `system reset`: it reaches past this store)
        # the overlay driver bind-mounts its own directory; reset leaves that mount behind
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for point in sorted((m for m in mounts if m.startswith(f"{self.root}/")), reverse=True):
            subprocess.run(["umount", point], check=False, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = Podman(tmp_path)
    yield p
    p.close()


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    need_tool("skopeo")
    root, _ = build_busybox(tmp_path)
    ctx = tmp_path / "app"
    ctx.mkdir()
    (ctx / "Containerfile").write_text('FROM busybox\nRUN echo made-by-pybuild > /x\nCMD ["cat", "/x"]\n')
    pyb(root, "bud", "-q", "-t", "app", str(ctx))
    return root


def test_podman_runs_an_image_pushed_to_containers_storage(app_root: Path, podman: Podman) -> None:
    pyb(app_root, "push", "app", f"containers-storage:{podman.store}app")
    assert podman.run("app", "cat", "/x") == "made-by-pybuild\n"
    assert podman.run("app") == "made-by-pybuild\n"  # the config (CMD) arrived too
    ours = pyb(app_root, "inspect", "app").stdout
    theirs = json.loads(podman("image", "inspect", "app").stdout)[0]
    assert json.loads(ours)["FromImageID"] == theirs["Id"]  # the same config, so the same image ID


def test_pull_from_containers_storage_and_round_trip(app_root: Path, podman: Podman, tmp_path: Path) -> None:
    pyb(app_root, "push", "app", f"containers-storage:{podman.store}localhost/app:v1")
    podman("tag", "localhost/app:v1", "localhost/again:v2")
    other = tmp_path / "other-store"
    out = pyb(other, "pull", "-q", f"containers-storage:{podman.store}localhost/again:v2").stdout.split()[-1]
    names = {n for img in json.loads(pyb(other, "images", "--json").stdout) for n in img["names"]}
    assert names == {"localhost/again:v2"}
    assert out == json.loads(pyb(app_root, "inspect", "app").stdout)["FromImageID"]
    # what came back runs under pybuild too
    ctx = tmp_path / "use"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM localhost/again:v2\nRUN cat /x > /y\n")
    pyb(other, "bud", "-q", "-t", "use", str(ctx))
    pyb(other, "push", "use", f"containers-storage:{podman.store}use")
    assert podman.run("use", "cat", "/y") == "made-by-pybuild\n"


def test_containers_storage_mistakes_are_one_line(app_root: Path, podman: Podman) -> None:
    pyb(app_root, "push", "app", f"containers-storage:{podman.store}localhost/good")  # makes the push blobs
    before = sorted(p.name for p in (app_root / "blobs" / "sha256").iterdir())
    missing = pyb(app_root, "pull", f"containers-storage:{podman.store}localhost/nothere", check=False)
    assert missing.returncode != 0
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nothere" in lines[0], missing.stderr
    bad = pyb(app_root, "push", "app", "containers-storage:[overlay@relative+/x]app", check=False)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "Error: containers-storage:[overlay@relative+/x]app: the store is spelled "
        "[DRIVER@ROOT+RUNROOT:OPTIONS] with absolute paths"]
    creds = pyb(app_root, "push", "--creds", "u:p", "app", f"containers-storage:{podman.store}app", check=False)
    assert creds.returncode != 0 and "local store" in creds.stderr
    retry = pyb(app_root, "push", "--retry", "5", "app", f"containers-storage:{podman.store}app", check=False)
    assert retry.returncode != 0 and retry.stderr.strip().splitlines() == [
        "Error: --retry: containers-storage: is a local store (no registry to talk to)"]
    assert sorted(p.name for p in (app_root / "blobs" / "sha256").iterdir()) == before
    assert podman("images", "--format", "{{.Repository}}").stdout.split() == ["localhost/good"]
