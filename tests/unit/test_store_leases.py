"""The store beside a gc in another process: leased content survives it, records are
looked up inside the lock, blobs are reused only at the right size, dead holders'
leases expire. Two Store objects on one root stand for two processes (each takes the
flock itself), so each race is forced at the point where it used to lose."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from registry_fixtures import make_image, write_oci_layout

from pybuild.builder import leases
from pybuild.builder.fsck import check
from pybuild.builder.garbage import collect
from pybuild.builder.store import Store
from pybuild.builder.store_transport import StoreDestination, pull_into_store
from pybuild.errors import ImageNotFound, PybuildError
from pybuild.fsutil import pid_alive, process_start
from pybuild.oci.layer import layer_digests
from pybuild.oci.transport import copy_image, open_source


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "layout"
    write_oci_layout(path, {"a": make_image("a", layers=2)})
    return path


class GcBeforeCommit(StoreDestination):
    """A pull whose commit comes just after another process removed the image and ran gc."""

    def __init__(self, store: Store, other: Store, victim: str) -> None:
        super().__init__(store, [])
        self.other, self.victim = other, victim

    def commit(self) -> None:
        self.other.remove_image(self.victim, force=True)
        collect(self.other)
        super().commit()


def test_pull_reusing_stored_blobs_survives_a_gc_before_its_record(tmp_path: Path, layout: Path) -> None:
    root = tmp_path / "root"
    first = pull_into_store(Store(root), f"oci:{layout}:a")
    dst = GcBeforeCommit(Store(root), Store(root), first.id)
    src = open_source(f"oci:{layout}:a")
    copy_image(src, dst)
    dst.close()
    assert dst.image is not None
    assert check(Store(root)) == []


def test_built_layer_and_config_survive_a_gc_before_the_record(tmp_path: Path) -> None:
    root = tmp_path / "root"
    builder, pruner = Store(root), Store(root)
    upper = builder.scratch_dir("test") / "diff"
    upper.mkdir()
    (upper / "hello").write_text("hi\n")
    diff_id = str(layer_digests(upper, overlay_upper=True).diff_id)
    builder.adopt_layer(upper, diff_id, size=1, tar_options={})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    builder.layout.put_bytes(config)
    freed = collect(pruner)
    assert freed["layers"] == 0 and freed["blobs"] == 0
    builder.add_image(config, [diff_id], names=["built"])
    assert check(Store(root)) == []


def test_a_lease_ends_with_its_block_and_its_content_is_then_collected(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    with store.leased():
        digest, _ = store.layout.put_bytes(b"in flight")
        assert collect(Store(store.root))["blobs"] == 0
    assert collect(Store(store.root))["blobs"] == 1
    assert not store.layout.has_blob(digest)


def test_a_lease_grown_step_by_step_keeps_all_it_holds_from_a_gc_between_steps(tmp_path: Path) -> None:
    builder, pruner = Store(tmp_path / "root"), Store(tmp_path / "root")
    put: list[str] = []
    with builder.leased():
        for i in range(4):  # as a build adds each step's config (the file is rewritten in place)
            put.append(str(builder.layout.put_bytes(b"step %d" % i)[0]))
            assert collect(pruner)["blobs"] == 0
        assert builder.own_lease is not None
        builder.own_lease.unlink()  # removed by hand: the next step writes it anew, whole
        put.append(str(builder.layout.put_bytes(b"step 4")[0]))
        assert collect(pruner)["blobs"] == 0
        assert sorted(json.loads(builder.own_lease.read_bytes())["blobs"]) == sorted(put)
    assert collect(pruner)["blobs"] == 5


def _lease_of(store: Store, pid: int, start: int | None, blob: str) -> Path:
    path = store.root / "leases" / f"{pid}-x.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "start": start, "blobs": [blob], "layers": []}))
    return path


def test_a_dead_holders_lease_expires_and_gc_takes_its_content(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    with store.leased():
        digest, _ = store.layout.put_bytes(b"orphan")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    lease = _lease_of(store, int(dead.stdout), None, str(digest))
    reused = _lease_of(store, os.getpid(), (process_start(os.getpid()) or 0) + 1, str(digest))  # PID reused
    assert collect(Store(store.root))["blobs"] == 1
    assert not lease.exists() and not reused.exists()


def test_pid_alive_counts_a_zombie_and_a_reused_pid_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # not waited for: a zombie until we reap it
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    assert not pid_alive(child.pid)
    child.wait()
    me = os.getpid()
    assert pid_alive(me) and pid_alive(me, process_start(me))
    assert not pid_alive(me, (process_start(me) or 0) + 1)


def _hold_flock(root: Path, during: Any) -> None:
    """Hold the store's flock (as another process would) while ``during`` runs."""
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        during()
    finally:
        os.close(fd)


def _records(root: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((root / "images.json").read_text())
    return data


def _rewrite(root: Path, change: Any) -> None:
    records = _records(root)
    change(records)
    (root / "images.json").write_text(json.dumps(records))


@pytest.mark.parametrize("force", [False, True])
def test_rmi_looks_the_image_up_inside_the_lock(tmp_path: Path, layout: Path, force: bool) -> None:
    """An `rmi alias` that waited for the lock while another removed the alias must not
    then remove the image itself (nor, with -f, crash on the record being gone)."""
    root = tmp_path / "root"
    img = pull_into_store(Store(root), f"oci:{layout}:a", names=["keep", "alias"])
    outcome: list[BaseException | tuple[str, bool]] = []

    def rmi() -> None:
        try:
            outcome.append(Store(root).remove_image("alias", force=force))
        except BaseException as e:  # noqa: BLE001 - the test reports what it was
            outcome.append(e)

    def meanwhile() -> None:
        t = threading.Thread(target=rmi)
        t.start()
        time.sleep(0.5)  # rmi has started and waits for the lock
        if force:
            _rewrite(root, lambda recs: recs.clear())
        else:
            _rewrite(root, lambda recs: recs[0].__setitem__("names", ["localhost/keep:latest"]))
        meanwhile.thread = t  # type: ignore[attr-defined]

    _hold_flock(root, meanwhile)
    meanwhile.thread.join(timeout=30)  # type: ignore[attr-defined]
    assert len(outcome) == 1
    assert isinstance(outcome[0], ImageNotFound), outcome
    if not force:
        assert [r["id"] for r in _records(root)] == [img.id]


def test_a_stored_blob_is_reused_only_at_the_descriptors_size(tmp_path: Path, layout: Path) -> None:
    """A manifest naming a stored config and layers with other sizes (10^15) is refused and
    never replaces the manifest of the image already there."""
    root = tmp_path / "root"
    good = pull_into_store(Store(root), f"oci:{layout}:a", names=["good"])
    index = json.loads((layout / "index.json").read_text())
    mpath = layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]
    manifest = json.loads(mpath.read_text())
    manifest["layers"][0]["size"] = 10**15
    raw = json.dumps(manifest).encode()
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(raw)
    index["manifests"][0].update(digest="sha256:" + digest, size=len(raw))
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(PybuildError) as err:
        pull_into_store(Store(root), f"oci:{layout}:a", names=["bad"])
    assert "\n" not in str(err.value)
    after = Store(root).image("good")
    assert after.manifest == good.manifest
    assert check(Store(root)) == []


def test_store_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    """Under umask 000 the store is still 0700 and its records not writable by others."""
    from pybuild.builder import cache

    old = os.umask(0)
    try:
        store = Store(tmp_path / "root")
        store.layout.put_bytes(b"config")
        cache.record(store, "ab" * 32, layers=[], config="sha256:" + "0" * 64, inputs={}, parent="cd" * 32)
        store.hold(blobs=["sha256:" + "1" * 64])
    finally:
        os.umask(old)
    root = store.root
    for sub in ("", "blobs", "cache", "containers", "layers", "tmp", "leases"):
        assert (root / sub).stat().st_mode & 0o777 == 0o700, sub
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            assert not mode & 0o022, f"{os.path.join(dirpath, name)} is {oct(mode & 0o777)}"


def test_lease_dir_is_cleaned_by_recovery_only_for_the_dead(tmp_path: Path) -> None:
    store = Store(tmp_path / "root")
    store.hold(blobs=["sha256:" + "2" * 64])
    assert leases.expire(store) == 0
    assert leases.held(store)[1] == {"sha256:" + "2" * 64}
