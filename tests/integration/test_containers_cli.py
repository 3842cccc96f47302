"""The working-container verbs as a buildah user types them: from, run, copy, add, config,
commit, mount, umount, containers, rm, rename, prune — against real overlay mounts and
the real sandbox. One busybox store is built per module; each test works on its own copy."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from containers_helpers import (
    APP,
    EXAMPLES,
    busybox_context,
    clone_store,
    disk_usage,
    is_mounted,
    pybuild,
)

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, namespaces, chown)")
    tmp = tmp_path_factory.mktemp("containers-cli")
    root = tmp / "store"
    pybuild(root, "bud", "-q", "-t", "busybox", str(busybox_context(tmp)))
    return root


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


def _from(root: Path, *args: str) -> str:
    return pybuild(root, "from", *args).stdout.strip()


def _load_difftest(shared: Path) -> object:
    spec = importlib.util.spec_from_file_location("difftest", shared / "difftest" / "difftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_names_containers_as_buildah_does(root: Path) -> None:
    assert _from(root, "busybox") == "busybox-working-container"
    assert _from(root, "busybox") == "busybox-working-container-1"
    assert _from(root, "localhost/busybox:latest") == "busybox-working-container-2"
    assert _from(root, "scratch") == "working-container"
    assert _from(root, "--name", "mine", "busybox") == "mine"
    taken = pybuild(root, "from", "--name", "mine", "busybox", check=False)
    assert taken.returncode == 125 and "already in use" in taken.stderr
    missing = pybuild(root, "from", "--pull=never", "nosuchimage", check=False)
    assert missing.returncode == 125 and "nosuchimage" in missing.stderr
    listed = json.loads(pybuild(root, "containers", "--json").stdout)
    assert sorted(c["containername"] for c in listed) == [
        "busybox-working-container", "busybox-working-container-1", "busybox-working-container-2", "mine",
        "working-container"]
    table = pybuild(root, "containers").stdout.splitlines()
    assert table[0].split()[:2] == ["CONTAINER", "ID"] and len(table) == 6


def test_shell_script_builds_the_same_image_as_the_containerfile(root: Path, tmp_path: Path,
                                                                shared_dir: Path) -> None:
    env = {**os.environ, "PYBUILD_ROOT": str(root)}
    subprocess.run(["bash", str(EXAMPLES / "build.sh"), "app-sh"], check=True, env=env, timeout=300,
                   stdin=subprocess.DEVNULL, capture_output=True)
    pybuild(root, "bud", "-q", "-t", "app-cf", str(APP))
    assert json.loads(pybuild(root, "containers", "--json").stdout) == []  # commit --rm removed it
    for name in ("app-sh", "app-cf"):
        pybuild(root, "push", "-q", name, f"oci:{tmp_path / name}:latest")
    difftest = _load_difftest(shared_dir)
    ref = difftest.load_image(tmp_path / "app-cf")  # type: ignore[attr-defined]
    got = difftest.load_image(tmp_path / "app-sh")  # type: ignore[attr-defined]
    problems, _notes = difftest.compare(ref, got, False)  # type: ignore[attr-defined]
    assert problems == []
    assert got[1]["app/run"]["mode"] == "0o755" and got[1]["var/lib/app/stamp"]["type"] == "file"
    # and the image runs as its Containerfile twin does
    ctr = _from(root, "app-sh")
    assert pybuild(root, "run", ctr, "--", "/app/run").stdout == "hello from built\n"


def test_state_persists_between_invocations(root: Path) -> None:
    ctr = _from(root, "busybox")
    pybuild(root, "run", ctr, "--", "sh", "-c", "echo one > /note")
    path = Path(pybuild(root, "mount", ctr).stdout.strip())
    assert is_mounted(path)
    assert (path / "note").read_text() == "one\n"
    (path / "edited").write_text("by hand\n")  # tools edit the mounted rootfs directly
    # run while mounted by the user: it sees the edit and leaves the container mounted
    assert pybuild(root, "run", ctr, "--", "cat", "/edited").stdout == "by hand\n"
    assert is_mounted(path)
    assert pybuild(root, "mount").stdout.split() == [ctr, str(path)]
    pybuild(root, "umount", ctr)
    assert not is_mounted(path)
    info = json.loads(pybuild(root, "inspect", "--type", "container", ctr).stdout)
    assert info["Container"] == ctr and info["FromImage"] == "localhost/busybox:latest"
    pybuild(root, "commit", "--rm", ctr, "noted")
    ctr2 = _from(root, "noted")
    assert pybuild(root, "run", ctr2, "--", "cat", "/note", "/edited").stdout == "one\nby hand\n"


def test_run_options_and_exit_status(root: Path, tmp_path: Path) -> None:
    ctr = _from(root, "busybox")
    out = pybuild(root, "run", "--user", "app", "--workingdir", "/tmp", "-e", "X=1", ctr, "--",
                  "sh", "-c", 'echo "$(id -u) $(pwd) $X"').stdout
    assert out == "1000 /tmp 1\n"
    failed = pybuild(root, "run", ctr, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    host = tmp_path / "shared"
    host.mkdir()
    (host / "in").write_text("from host\n")
    out = pybuild(root, "run", "--mount", f"type=bind,src={host},dst=/mnt/h,ro", "-v", f"{host}:/v", ctr, "--",
                  "sh", "-c", "cat /mnt/h/in; echo w > /v/out").stdout
    assert out == "from host\n" and (host / "out").read_text() == "w\n"
    assert pybuild(root, "run", "--network", "none", ctr, "--", "sh", "-c", "ls /sys/class/net").stdout.split() == ["lo"]
    missing = pybuild(root, "run", "nosuch", "--", "true", check=False)
    assert missing.returncode == 125 and "nosuch" in missing.stderr


def test_copy_and_add(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "a.txt").write_text("a")
    (src / "one").write_text("1")
    os.symlink("a.txt", src / "dir" / "link")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("packed/file")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"packed"))
    (src / "arch.tar.gz").write_bytes(buf.getvalue())
    ctr = _from(root, "busybox")
    pybuild(root, "copy", ctr, str(src / "dir"), "/d")
    pybuild(root, "copy", "--chown", "app:app", "--chmod", "0600", ctr, str(src / "one"), str(src / "dir" / "a.txt"),
            "/multi/")
    pybuild(root, "add", ctr, str(src / "arch.tar.gz"), "/unpacked/")
    pybuild(root, "copy", ctr, str(src / "arch.tar.gz"), "/kept/")
    other = _from(root, "busybox")
    pybuild(root, "run", other, "--", "sh", "-c", "mkdir /o && echo other > /o/f && chown 1000:1000 /o/f")
    pybuild(root, "copy", "--from", other, ctr, "/o/f", "/from-ctr")
    pybuild(root, "copy", "--from", "busybox", ctr, "/etc/passwd", "/from-image")
    path = Path(pybuild(root, "mount", ctr).stdout.strip())
    try:
        assert (path / "d" / "a.txt").read_text() == "a" and os.readlink(path / "d" / "link") == "a.txt"
        st = os.stat(path / "multi" / "one")
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o600)
        assert os.stat(path / "d" / "a.txt").st_uid == 0  # host files become root's
        assert (path / "unpacked" / "packed" / "file").read_bytes() == b"packed"
        assert (path / "kept" / "arch.tar.gz").is_file()  # copy never unpacks
        assert (path / "from-ctr").read_text() == "other\n" and os.stat(path / "from-ctr").st_uid == 1000
        assert (path / "from-image").read_text().startswith("root:x:0:0")
    finally:
        pybuild(root, "umount", ctr)
    several = pybuild(root, "copy", ctr, str(src / "one"), str(src / "dir"), "/not-a-dir", check=False)
    assert several.returncode == 125 and "destination must be a directory" in several.stderr
    absent = pybuild(root, "copy", ctr, str(src / "absent"), "/x", check=False)
    assert absent.returncode == 125 and "absent" in absent.stderr


def test_config_and_commit_formats(root: Path, tmp_path: Path) -> None:
    ctr = _from(root, "busybox")
    pybuild(root, "config", "--entrypoint", "echo hi", "--cmd", "a 'b c'", "--env", "A=1", "--env", "B=$A-2",
            "--label", "l=v", "--annotation", "an=x", "--user", "app", "--workingdir", "/w", "--port", "53/udp",
            "--port", "80", "--volume", "/data", "--shell", '["/bin/ash", "-c"]', "--stop-signal", "SIGINT",
            "--healthcheck", "CMD true", "--healthcheck-interval", "30s", "--healthcheck-retries", "2",
            "--onbuild", "RUN echo child", "--author", "me", "--created-by", "made by hand", "--arch", "arm64",
            ctr)
    pybuild(root, "config", "--env", "PATH-", ctr)
    docker = pybuild(root, "commit", "--format", "docker", ctr, "cfg-docker")
    assert "WARN" not in docker.stderr
    cfg = json.loads(pybuild(root, "inspect", "--type", "image", "cfg-docker").stdout)["Docker"]
    c = cfg["config"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "echo hi"] and c["Cmd"] == ["a", "b c"]
    assert c["Env"] == ["A=1", "B=1-2"]
    assert c["Labels"] == {"l": "v"} and c["User"] == "app" and c["WorkingDir"] == "/w"
    assert c["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}} and c["Volumes"] == {"/data": {}}
    assert c["Shell"] == ["/bin/ash", "-c"] and c["StopSignal"] == "SIGINT" and c["OnBuild"] == ["RUN echo child"]
    assert c["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30_000_000_000, "Retries": 2}
    assert cfg["author"] == "me" and cfg["architecture"] == "arm64"
    assert cfg["history"][-1]["created_by"] == "made by hand"
    oci = pybuild(root, "commit", "--iidfile", str(tmp_path / "iid"), ctr, "cfg-oci")
    assert (tmp_path / "iid").read_text() == "sha256:" + oci.stdout.strip()
    for dropped in ("HEALTHCHECK", "ONBUILD", "SHELL"):
        assert f"{dropped} is not supported for OCI image format" in oci.stderr
    c = json.loads(pybuild(root, "inspect", "--type", "image", "cfg-oci").stdout)["OCIv1"]["config"]
    assert "Healthcheck" not in c and "Shell" not in c and c["Cmd"] == ["a", "b c"]
    bad = pybuild(root, "config", "--port", "eighty", ctr, check=False)
    assert bad.returncode == 125 and "eighty" in bad.stderr


def test_commit_squash_timestamp_rm_and_transport(root: Path, tmp_path: Path) -> None:
    ctr = _from(root, "busybox")
    pybuild(root, "run", ctr, "--", "sh", "-c", "echo x > /x")
    pybuild(root, "commit", "--timestamp", "0", ctr, "stamped")
    img = json.loads(pybuild(root, "inspect", "--type", "image", "stamped").stdout)
    base_layers = json.loads(pybuild(root, "inspect", "--type", "image", "busybox").stdout)["Layers"]
    assert img["OCIv1"]["created"] == "1970-01-01T00:00:00Z"
    assert len(img["Layers"]) == len(base_layers) + 1
    pybuild(root, "run", ctr, "--", "sh", "-c", "echo y > /y")
    pybuild(root, "commit", "--squash", "--rm", ctr, "squashed")
    assert len(json.loads(pybuild(root, "inspect", "--type", "image", "squashed").stdout)["Layers"]) == 1
    assert pybuild(root, "containers", "-q").stdout == ""
    ctr = _from(root, "squashed")
    assert pybuild(root, "run", ctr, "--", "cat", "/x", "/y").stdout == "x\ny\n"
    pybuild(root, "commit", ctr, f"oci:{tmp_path / 'layout'}:exported")
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "exported"


def test_rename_and_rm(root: Path) -> None:
    ctr = _from(root, "busybox")
    pybuild(root, "rename", ctr, "renamed")
    assert pybuild(root, "containers", "--noheading").stdout.split()[-1] == "renamed"
    other = _from(root, "busybox")
    clash = pybuild(root, "rename", other, "renamed", check=False)
    assert clash.returncode == 125 and "already in use" in clash.stderr
    path = Path(pybuild(root, "mount", "renamed").stdout.strip())
    assert is_mounted(path)
    pybuild(root, "rm", "renamed")  # a mounted container is unmounted, then removed
    assert not is_mounted(path) and not path.exists()
    pybuild(root, "rm", "--all")
    assert pybuild(root, "containers", "-q").stdout == ""
    gone = pybuild(root, "rm", "renamed", check=False)
    assert gone.returncode == 125 and "renamed" in gone.stderr


def test_killed_run_leaves_a_container_that_rm_cleans(root: Path) -> None:
    ctr = _from(root, "busybox")
    proc = subprocess.Popen([sys.executable, "-m", "pybuild", "--root", str(root), "run", ctr, "--",
                             "sh", "-c", "echo started; sleep 20"], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        os.kill(proc.pid, signal.SIGKILL)  # the pybuild process dies mid-step
        proc.wait(timeout=30)
        info = json.loads(pybuild(root, "containers", "--json").stdout)
        assert [c["containername"] for c in info] == [ctr]
        mountpoint = Path(info[0]["mountpoint"])
        assert pybuild(root, "rm", ctr).stdout.strip() == info[0]["id"]
        assert not is_mounted(mountpoint) and not mountpoint.parent.exists()
        assert pybuild(root, "containers", "-q").stdout == ""
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the step left running
        except ProcessLookupError:
            pass


def test_prune_frees_space(root: Path) -> None:
    ctr = _from(root, "busybox")
    pybuild(root, "run", ctr, "--", "dd", "if=/dev/urandom", "of=/big", "bs=1M", "count=6")
    pybuild(root, "commit", "--rm", ctr)  # an unnamed (dangling) image
    ctx = root.parent / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\nRUN dd if=/dev/urandom of=/cached bs=1M count=6\n")
    pybuild(root, "bud", "-q", "-t", "cached", str(ctx))
    pybuild(root, "rmi", "cached")  # the step cache still holds its layer
    before = disk_usage(root)
    out = pybuild(root, "prune")
    after = disk_usage(root)
    assert before - after >= 12 * 1024 * 1024
    assert "Total reclaimed space" in out.stderr and len(out.stdout.split()) == 1  # the dangling image's ID
    ctr = _from(root, "busybox")  # what is in use survives
    assert pybuild(root, "run", ctr, "--", "true").returncode == 0
    names = [n for img in json.loads(pybuild(root, "images", "--json").stdout) for n in img["names"]]
    assert names == ["localhost/busybox:latest"]


def test_from_pulls_from_a_registry(root: Path, registry: object) -> None:
    host = registry.host  # type: ignore[attr-defined]
    pybuild(root, "push", "--tls-verify=false", "busybox", f"docker://{host}/team/busybox:1.0")
    ctr = _from(root, "--pull=always", "--tls-verify=false", f"{host}/team/busybox:1.0")
    assert ctr == "busybox-working-container"
    info = json.loads(pybuild(root, "containers", "--json").stdout)[0]
    assert info["imagename"] == f"{host}/team/busybox:1.0"
    assert pybuild(root, "run", ctr, "--", "cat", "/etc/group").stdout.startswith("root:x:0:")
    unknown = pybuild(root, "from", "--tls-verify=false", f"{host}/team/nothing:here", check=False)
    assert unknown.returncode == 125 and "team/nothing" in unknown.stderr


def test_run_cache_mount_is_the_builds_cache(root: Path, tmp_path: Path) -> None:
    """`run --mount type=cache,id=X` sees what a build's RUN --mount=type=cache,id=X left."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM busybox\nRUN --mount=type=cache,id=shared-x,target=/c echo from-build > /c/stamp\n")
    pybuild(root, "bud", "-q", "-t", "cached", str(ctx))
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    out = pybuild(root, "run", "--mount", "type=cache,id=shared-x,dst=/cache", ctr, "--",
                  "sh", "-c", "cat /cache/stamp && echo from-run >> /cache/stamp").stdout
    assert "from-build" in out
    proc = pybuild(root, "run", "--mount", "type=cache,dst=/cache,id=shared-x,mode=notoctal", ctr, "--", "true",
                   check=False)
    assert proc.returncode != 0 and "mode=notoctal is not a number" in proc.stderr
