"""The library as a new user meets it: every use goes through ``import pybuild`` only
(no private module), as the README shows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pybuild

pytestmark = [pytest.mark.root, pytest.mark.integration]

PROJECT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = PROJECT / "examples"
APP = EXAMPLES / "Containerfiles" / "app"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> pybuild.Store:
    """A store holding a busybox image, built with pybuild.build from busybox-static."""
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, namespaces, chown)")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox is missing (apt-get install busybox-static)")
    tmp = tmp_path_factory.mktemp("api")
    ctx = tmp / "ctx"
    ctx.mkdir()
    shutil.copy2("/bin/busybox", ctx / "busybox")
    s = pybuild.Store(tmp / "store")
    pybuild.build(ctx, file=EXAMPLES / "Containerfiles" / "busybox" / "Containerfile", tags=["busybox"], store=s)
    return s


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path), st.st_uid, st.st_gid)
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode, st.st_uid, st.st_gid)
            else:
                out[rel] = ("file", st.st_mode, st.st_uid, st.st_gid, Path(path).read_bytes())
    return out


def _files_of(store: pybuild.Store, image: str) -> dict[str, tuple[object, ...]]:
    ctr = store.from_image(image)
    try:
        return _tree(ctr.mount())
    finally:
        ctr.remove()


def test_build_reports_every_step(store: pybuild.Store) -> None:
    events: list[pybuild.Event] = []
    image = pybuild.build(APP, tags=["app-built"], store=store, on_event=events.append, no_cache=True)
    steps = [e.message for e in events if e.kind == "step"]
    instructions = [line for line in (APP / "Containerfile").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert len(steps) == len(instructions)
    assert [s.split(": ", 1)[1] for s in steps] == instructions
    assert [e.message for e in events if e.kind == "image"] == [image.id]
    assert isinstance(image, pybuild.Image) and "localhost/app-built:latest" in image.names


def test_container_workflow_builds_the_same_image(store: pybuild.Store) -> None:
    built = pybuild.build(APP, tags=["app-twin"], store=store)
    events: list[pybuild.Event] = []
    ctr = store.from_image("busybox", on_event=events.append)
    assert isinstance(ctr, pybuild.WorkingContainer) and ctr.image == "localhost/busybox:latest"
    ctr.run("mkdir -p /var/lib/app && echo built > /var/lib/app/stamp")
    ctr.copy(APP / "app", "/app")
    ctr.config(env={"APP_HOME": "/app", "GREETING": "hello"}, labels={"org.opencontainers.image.title": "app"},
               workdir="/app", ports=["8080"], cmd=["/app/run"])
    image = ctr.commit("app-by-hand", rm=True)
    kinds = [(e.kind, e.data.get("op")) for e in events if e.kind in ("step", "image")]
    assert kinds == [("step", "from"), ("step", "run"), ("step", "copy"), ("step", "config"),
                     ("step", "commit"), ("image", None)]
    made = pybuild.inspect(image.id, store=store, type="image")["OCIv1"]
    twin = pybuild.inspect(built.id, store=store, type="image")["OCIv1"]
    assert made["config"] == twin["config"]
    assert (made["architecture"], made["os"]) == (twin["architecture"], twin["os"])
    mine, theirs = _files_of(store, image.id), _files_of(store, built.id)
    assert mine.keys() == theirs.keys() and mine == theirs
    assert store.containers() == []


def test_python_example_script(store: pybuild.Store) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "build.py"), "--root", str(store.root), "app-py"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [line.split(": ", 1)[1].split()[0] for line in lines if line.startswith("step: ")]
    assert steps == ["FROM", "RUN", "COPY", "CONFIG", "COMMIT"]
    image = store.image("app-py")
    assert lines[-1] == image.id
    assert image.config.config.cmd == ["/app/run"]


def test_run_status_output_and_errors(store: pybuild.Store) -> None:
    ctr = store.from_image("busybox")
    try:
        chunks: list[bytes] = []
        assert ctr.run(["sh", "-c", "echo out; echo err >&2"], output=chunks.append) == 0
        assert b"".join(chunks).split() == [b"out", b"err"]
        events: list[pybuild.Event] = []
        assert ctr.run(["sh", "-c", "echo $GREETING; exit 4"], env={"GREETING": "hi"}, check=False,
                       on_event=events.append) == 4
        assert "".join(e.message for e in events if e.kind == "output") == "hi\n"
        with pytest.raises(pybuild.StepFailed) as failed:
            ctr.run(["false"])
        assert failed.value.status == 1 and isinstance(failed.value, pybuild.PybuildError)
        assert ctr.run(["id", "-u"], user="app", output=chunks.append) == 0 and chunks[-1] == b"1000\n"
    finally:
        ctr.remove()
    with pytest.raises(pybuild.ContainerNotFound):
        store.container(ctr.name)
    with pytest.raises(pybuild.ImageNotFound):
        store.from_image("no-such-image", pull="never")
    with pytest.raises(pybuild.ConfigError):
        store.from_image("busybox", pull="sometimes")


def test_container_outlives_its_python_object(store: pybuild.Store) -> None:
    ctr = store.from_image("busybox", name="kept")
    ctr.copy([str(APP / "app" / "run")], "/bin/", chmod="0700")
    again = pybuild.Store(store.root).container("kept")
    assert again.id == ctr.id and again.mountpoint is None
    root = again.mount()
    try:
        assert (root / "bin" / "run").stat().st_mode & 0o777 == 0o700
        assert again.mountpoint == root
        assert again.inspect()["MountPoint"] == str(root)
    finally:
        again.remove()
    assert not root.exists()


def test_push_copy_pull_round_trip(store: pybuild.Store, tmp_path: Path) -> None:
    image = store.image("busybox")
    pushed = pybuild.push("busybox", f"oci:{tmp_path / 'one'}:bb", store=store)
    copied = pybuild.copy(f"oci:{tmp_path / 'one'}:bb", f"oci-archive:{tmp_path / 'bb.tar'}:bb")
    assert pushed == copied and isinstance(copied, pybuild.Digest)
    other = pybuild.Store(tmp_path / "other")
    pulled = pybuild.pull(f"oci-archive:{tmp_path / 'bb.tar'}:bb", store=other, name="bb")
    assert pulled.id == image.id and "localhost/bb:latest" in pulled.names
    assert pybuild.inspect("bb", store=other)["OCIv1"]["config"] == \
        pybuild.inspect("busybox", store=store)["OCIv1"]["config"]


def test_pull_names_and_policies_as_the_command_line(store: pybuild.Store, tmp_path: Path) -> None:
    layout = tmp_path / "lay"
    pybuild.push("busybox", f"oci:{layout}:app", store=store, format="v2s2")  # v2s2: docker's alias
    other = pybuild.Store(tmp_path / "other")
    with pytest.raises(pybuild.ImageNotFound, match="not in the local store"):
        pybuild.pull(f"oci:{layout}:app", store=other, policy="never")
    pulled = pybuild.pull(f"oci:{layout}:app", store=other, policy="missing")
    assert f"localhost/{str(layout).lstrip('/')}:latest" in pulled.names  # buildah's name: the layout's path
    assert pybuild.pull(f"oci:{layout}:app", store=other, policy="never").id == pulled.id
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    with pytest.raises(pybuild.ConfigError, match="invalid pull policy"):
        pybuild.pull(f"oci:{layout}:app", store=other, policy="sometimes")


def test_prune_through_the_library(store: pybuild.Store, tmp_path: Path) -> None:
    ctr = store.from_image("busybox")
    ctr.run(["dd", "if=/dev/urandom", "of=/junk", "bs=1M", "count=4"])
    dangling = ctr.commit(rm=True)
    report = store.prune()
    assert isinstance(report, pybuild.PruneReport)
    assert dangling.id in report.images and report.freed_bytes >= 4 * 1024 * 1024
    assert store.find_image(dangling.id) is None and store.find_image("busybox") is not None
