"""pybuild as an ordinary user with subordinate ids (issue 13's acceptance, tried as a new user
would): every example builds and rebuilds from cache, the working-container verbs, every RUN
--mount kind, push to a layout and a registry, login; owners in layers are the in-build ids;
nothing stays mounted on the machine; a user without subordinate ids gets one line.

Network half (issue 14, rootless): private is slirp4netns, reaching a server this test starts
on 127.0.0.1 only through slirp4netns's host-loopback address 10.0.2.2; no other address.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from containers_helpers import kill_when
from http_fixtures import slirp_fetch
from registry_fixtures import PASSWORD
from registry_fixtures import USER as REGISTRY_USER
from rootless_helpers import (
    PROJECT,
    RootlessUser,
    busybox_base,
    chown_tree,
    host_mounts_under,
    layer_entries,
    need_rootless_user,
    python_for_user,
    rootless_user,
)

from pybuild.builder.sandbox import slirp

pytestmark = [pytest.mark.root, pytest.mark.integration]
EXAMPLES = PROJECT / "examples" / "Containerfiles"


@pytest.fixture(scope="module")
def user() -> Iterator[RootlessUser]:
    for u in rootless_user():
        busybox_base(u)
        yield u


def test_store_and_driver_are_the_users(user: RootlessUser) -> None:
    info = user.run("info").stdout
    assert str(user.store) in info and '"GraphDriverName": "overlay"' in info
    assert "userxattr" in info  # why overlay: the probe in the user namespace
    host = json.loads(info)["host"]
    assert host["Rootless"] is True and host["UIDMap"][0] == {"container_id": 0, "host_id": os.stat(user.home).st_uid,
                                                            "size": 1}
    owner = os.stat(user.store).st_uid
    assert owner == os.stat(user.home).st_uid != 0  # the machine sees the user's files, not root's


def test_every_example_builds_and_rebuilds_from_cache(user: RootlessUser) -> None:
    for name in ("hello", "app"):
        ctx = user.copy_in(EXAMPLES / name, f"example-{name}")
        first = user.run("bud", "-t", name, str(ctx))
        assert "Successfully tagged" in first.stdout, first.stdout
        again = user.run("bud", "-t", name, str(ctx)).stdout.splitlines()
        runs = [i for i, ln in enumerate(again) if "STEP" in ln and ": RUN " in ln]
        assert runs and all(again[i + 1].startswith("--> Using cache") for i in runs), again
        ctr = user.run("from", name).stdout.strip()
        assert user.run("run", ctr, "--", "id", "-u").stdout.strip() in ("0", "1000")
        user.run("rm", ctr)
    assert host_mounts_under(user.base) == []


@pytest.mark.parametrize("isolation", ["chroot", "oci", "rootless"])
def test_owners_in_layers_are_the_in_build_ids(user: RootlessUser, isolation: str) -> None:
    ctx = user.context(f"owners-{isolation}", {
        "Containerfile": "FROM busybox\nRUN touch /f && chown 1234:5678 /f && chmod 4755 /f\n"
                         "COPY --chown=2000:3000 Containerfile /c\nRUN mkdir /d && echo x > /d/x && rm -r /d\n",
    })
    user.run("bud", "--isolation", isolation, "-t", f"owners-{isolation}", str(ctx))
    layout = user.base / f"layout-{isolation}"
    user.run("push", f"owners-{isolation}", f"oci:{layout}:x")
    layers = layer_entries(layout)
    assert ("f", 0o4755, 1234, 5678, "0", "", 0) in layers[-3]
    assert [e[:4] for e in layers[-2] if e[0] == "c"] == [("c", 0o644, 2000, 3000)]
    assert all(e[2] == 0 and e[3] == 0 for e in layers[0])  # busybox's files: root's inside
    assert host_mounts_under(user.base) == []


def test_a_cached_rebuild_is_answered_from_the_memo(user: RootlessUser) -> None:
    """The build memo (issue 19) as an ordinary user: recorded inside pybuild's user namespace,
    answered outside it (owners there are mapped, the identities the memo keeps are not)."""
    ctx = user.context("memo", {"Containerfile": "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n",
                                "a.txt": "a\n"})
    time.sleep(1.1)  # a memo is recorded only for inputs older than a second
    user.run("bud", "-t", "memo", str(ctx))
    cached = user.run("bud", "-t", "memo", str(ctx))
    argv = user.argv("bud", "-t", "memo", str(ctx))
    argv[argv.index("-m"):argv.index("-m")] = ["-X", "importtime"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=user.base)
    imported = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    said = f"cached:\n{cached.stdout}{cached.stderr}\nagain:\n{proc.stdout}" + "".join(
        line + "\n" for line in proc.stderr.splitlines() if not line.startswith("import time:"))
    assert proc.returncode == 0 and proc.stdout == cached.stdout, said
    assert imported and "click" not in imported, said


def test_working_container_verbs(user: RootlessUser) -> None:
    ctr = user.run("from", "--name", "verbs", "busybox").stdout.strip()
    user.run("run", ctr, "--", "sh", "-c", "echo made > /made && chown 42:43 /made")
    note = user.context("verbs-src", {"note": "copied\n"})
    user.run("copy", ctr, str(note / "note"), "/note")
    user.run("config", "--env", "WHO=rootless", ctr)
    user.run("commit", ctr, "verbs-image")
    user.run("rm", ctr)
    check = user.run("from", "verbs-image").stdout.strip()
    out = user.run("run", check, "--", "sh", "-c", "cat /made /note; stat -c %u:%g /made; echo $WHO").stdout
    assert out.split() == ["made", "copied", "42:43", "rootless"]
    # mount inside `unshare`, as buildah's: the path is usable there and gone after
    shown = user.run("unshare", "sh", "-c", f"p=$({' '.join(python_for_user())} -m pybuild mount {check}) "
                     "&& cat $p/note && grep -c overlay /proc/self/mountinfo").stdout.split()
    assert shown[0] == "copied" and int(shown[1]) >= 1
    user.run("rm", check)
    assert host_mounts_under(user.base) == []


def test_every_run_mount_kind(user: RootlessUser) -> None:
    secret = user.base / "secret.txt"
    secret.write_text("s3cret\n")
    chown_tree(secret, user.user)
    ctx = user.context("mounts", {"data.txt": "bound\n", "Containerfile": (
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/cache echo cached >> /cache/log && cat /cache/log > /cache-seen\n"
        "RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /bind-seen\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /secret-len.tmp && wc -c < /secret-len.tmp > /secret-len"
        " && rm /secret-len.tmp\n"
        "RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && grep -c tmpfs /proc/mounts > /tmpfs-seen\n")})
    user.run("bud", "--secret", f"id=tok,src={secret}", "-t", "mounts", str(ctx))
    ctr = user.run("from", "mounts").stdout.strip()
    out = user.run("run", ctr, "--", "sh", "-c", "cat /cache-seen /bind-seen /secret-len; ls -A /scratch 2>/dev/null | wc -l").stdout
    assert out.split() == ["cached", "bound", "7", "0"]
    user.run("rm", ctr)


def test_push_to_a_registry_and_login(user: RootlessUser, basic_registry) -> None:  # noqa: ANN001 - fixture
    host = basic_registry.host
    user.run("login", "--tls-verify=false", "-u", REGISTRY_USER, "-p", PASSWORD, host)
    assert (user.base / "run" / "containers" / "auth.json").is_file()  # where podman keeps the user's
    user.run("push", "--tls-verify=false", "busybox", f"docker://{host}/rootless/busybox:1")
    user.run("rmi", "busybox")
    user.run("pull", "--tls-verify=false", f"{host}/rootless/busybox:1")
    ctr = user.run("from", f"{host}/rootless/busybox:1").stdout.strip()
    assert user.run("run", ctr, "--", "stat", "-c", "%u", "/etc/passwd").stdout.strip() == "0"
    user.run("rm", ctr)
    user.run("tag", f"{host}/rootless/busybox:1", "busybox")


def test_device_nodes_are_refused_naming_the_step(user: RootlessUser) -> None:
    ctx = user.context("mknod", {"Containerfile": "FROM busybox\nRUN mknod /null2 c 1 3\n"})
    before = sorted(p.name for p in (user.store / "containers").iterdir())
    proc = user.run("bud", "-t", "mknod", str(ctx), check=False)
    assert proc.returncode != 0
    error = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1 and "Containerfile:2" in error[0] and "RUN mknod /null2 c 1 3" in error[0], proc.stderr
    assert "Operation not permitted" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in (user.store / "containers").iterdir()) == before


def test_root_and_rootless_builds_give_the_same_layers(user: RootlessUser, tmp_path: Path) -> None:
    ctx = user.copy_in(EXAMPLES / "hello", "same-hello")
    user.run("bud", "-t", "same", str(ctx))
    user.run("push", "same", f"oci:{user.base / 'same-rootless'}:x")
    root_store = tmp_path / "store"
    bb = tmp_path / "bb"
    bb.mkdir()
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", bb / "busybox")
    shutil.copy2(EXAMPLES / "busybox" / "Containerfile", bb / "Containerfile")
    py = [sys.executable, "-m", "pybuild", "--root", str(root_store)]
    for args in (["bud", "-q", "-t", "busybox", str(bb)], ["bud", "-q", "-t", "same", str(ctx)],
                 ["push", "same", f"oci:{tmp_path / 'same-root'}:x"]):
        subprocess.run([*py, *args], check=True, capture_output=True, timeout=300)
    assert layer_entries(tmp_path / "same-root") == layer_entries(user.base / "same-rootless")


def test_user_without_subordinate_ids_gets_one_line() -> None:
    need_rootless_user()
    uid = 60123  # no passwd entry, no /etc/subuid line
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"pybuild-nosub-{os.getpid()}"
    (base / "ctx").mkdir(parents=True)
    try:
        (base / "ctx" / "Containerfile").write_text("FROM scratch\nCOPY Containerfile /c\nRUN true\n")
        for dirpath, _dirs, files in os.walk(base):
            for p in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
                os.chown(p, uid, uid)
        env = {"HOME": str(base), "PATH": "/usr/bin:/bin", "PYTHONPATH": RootlessUser(base).env()["PYTHONPATH"]}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "env", "-i",
                                   *(f"{k}={v}" for k, v in env.items()), *python_for_user(), "-m", "pybuild",
                                   "--root", str(base / "store"), *args], capture_output=True, text=True, timeout=60)

        proc = run("bud", "-t", "x", str(base / "ctx"))
        assert proc.returncode == 125
        fix = f"rootless pybuild needs subordinate ids for user {uid}: add {uid}:100000:65536 to /etc/subuid and /etc/subgid"
        assert proc.stderr.splitlines() == [f"Error: {base / 'ctx' / 'Containerfile'}:3: {fix}"], proc.stderr
        assert run("images", "--json").stdout.strip() == "[]"  # nothing half-made: no image, no container
        assert run("containers", "--json").stdout.strip() == "[]"
        assert "Traceback" not in proc.stderr
        assert run("unshare", "true").stderr.splitlines() == [f"Error: {fix}"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- networking (issue 14, rootless)

def _read(user: RootlessUser, image: str, *paths: str) -> str:
    ctr = user.run("from", image).stdout.strip()
    try:
        return user.run("run", "--network", "none", ctr, "--", "cat", *paths).stdout
    finally:
        user.run("rm", ctr)


def _slirps(user: RootlessUser) -> list[str]:
    ps = subprocess.run(["pgrep", "-af", "slirp4netns"], capture_output=True, text=True).stdout.splitlines()
    return [p for p in ps if str(user.base) in p]


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_private_is_slirp4netns(user: RootlessUser, isolation: str, loopback_server: int) -> None:
    if slirp.path() is None:
        pytest.skip("slirp4netns is not installed (apt-get install slirp4netns)")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK) or os.stat("/dev/net/tun").st_mode & 0o006 != 0o006:
        pytest.skip("/dev/net/tun is not open to users (scripts/setup.sh gives it Debian's 0666)")
    text = ("FROM busybox\nRUN ls /sys/class/net > /links && ip -o -4 addr show tap0 > /addr && "
            f"{slirp_fetch(loopback_server, '/got')} && cp /etc/resolv.conf /resolv && cp /etc/hosts /hosts\n"
            f"RUN --network=none ls /sys/class/net > /none-links && {slirp_fetch(loopback_server, '/none-got')}\n")
    ctx = user.context(f"net-{isolation}", {"Containerfile": text})
    out = user.run("bud", "--isolation", isolation, "--network", "private", "--dns", "10.0.2.3",
                   "--dns-search", "example.test", "--add-host", "db.test:10.0.2.9", "-t", "net", str(ctx))
    assert "host networking" not in out.stdout + out.stderr  # no fallback said
    assert f"inet {slirp.ADDRESS}/" in _read(user, "net", "/addr")
    assert _read(user, "net", "/links").split() == ["lo", "tap0"]  # its own interface, not the host's
    assert _read(user, "net", "/got") == "unreachable\n"  # host loopback closed by default
    resolv_text = _read(user, "net", "/resolv")
    assert "nameserver 10.0.2.3" in resolv_text and "search example.test" in resolv_text
    assert any(ln.split() == ["10.0.2.9", "db.test"] for ln in _read(user, "net", "/hosts").splitlines())
    assert _read(user, "net", "/none-links").split() == ["lo"]
    assert _read(user, "net", "/none-got") == "unreachable\n"
    open_ctx = user.context(f"net-open-{isolation}", {"Containerfile": f"FROM busybox\nRUN {slirp_fetch(loopback_server, '/got')}\n"})
    user.run("bud", "--isolation", isolation, "--network", "slirp4netns:allow_host_loopback=true", "-t", "open",
             str(open_ctx))
    assert _read(user, "open", "/got").endswith("\nserved\n")  # only through 10.0.2.2
    assert _slirps(user) == []


def test_killed_rootless_build_leaves_no_slirp4netns(user: RootlessUser) -> None:
    if slirp.path() is None:
        pytest.skip("slirp4netns is not installed (apt-get install slirp4netns)")
    ctx = user.context("killed", {"Containerfile": "FROM busybox\nRUN sleep 120\n"})
    proc = subprocess.Popen(user.argv("bud", "--network", "private", "-t", "killed", str(ctx)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=user.base)
    kill_when(proc, lambda: _slirps(user), "its slirp4netns")
    deadline = time.monotonic() + 10
    while _slirps(user) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _slirps(user) == []
    user.run("images")  # the next command recovers the dead build's namespace file
    assert not list((user.base / "run" / "pybuild" / "net" / "slirp").glob("*"))
    assert host_mounts_under(user.base) == []


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_host_network_rootless_sees_the_hosts_interfaces(user: RootlessUser, isolation: str) -> None:
    # sysfs of a network namespace the user does not own is refused: /sys is the host's, read-only
    ctx = user.context(f"host-net-{isolation}", {"Containerfile": "FROM busybox\nRUN ls /sys/class/net > /links"
                                                                  " && ! touch /sys/x 2>/dev/null\n"})
    user.run("bud", "--isolation", isolation, "--network", "host", "-t", "host-net", str(ctx))
    links = set(_read(user, "host-net", "/links").split())
    assert "tap0" not in links and links & set(os.listdir("/sys/class/net")) - {"lo"}


def test_fuse_overlayfs_gives_the_kernel_overlays_layers(user: RootlessUser) -> None:
    fuse = shutil.which("fuse-overlayfs")
    if not fuse:
        pytest.skip("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)")
    if os.stat("/dev/fuse").st_mode & 0o006 != 0o006:
        pytest.skip("/dev/fuse is not open to users (scripts/setup.sh gives it Debian's 0666)")
    # whiteouts, a directory removed and made again (opaque), new directories (not opaque)
    ctx = user.context("fuse", {"Containerfile": "FROM busybox\nRUN mkdir -p /d/sub && echo a > /d/a && echo b > /etc/b\n"
                                                 "RUN rm -rf /d && mkdir /d && echo new > /d/n && rm /etc/b\n"})
    opt = f"overlay.mount_program={fuse}"
    assert '"GraphDriverReason": "fuse-overlayfs (asked for)"' in user.run("--storage-opt", opt, "info").stdout
    user.run("bud", "--no-cache", "-t", "kernel", str(ctx))
    user.run("--storage-opt", opt, "bud", "--no-cache", "-t", "fuse", str(ctx))
    for name in ("kernel", "fuse"):
        user.run("push", name, f"oci:{user.base / ('layout-' + name)}:x")
    fuse_layers = layer_entries(user.base / "layout-fuse")
    assert fuse_layers == layer_entries(user.base / "layout-kernel")
    assert ("d/.wh..wh..opq", 0o755, 0, 0, "0", "", 0) in fuse_layers[-1]
    assert ("etc/.wh.b", 0o600, 0, 0, "0", "", 0) in fuse_layers[-1]
    bad = user.run("--storage-opt", "overlay.size=1G", "images", check=False)
    assert bad.returncode == 125 and bad.stderr.splitlines() == [
        "Error: --storage-opt overlay.size=1G: pybuild knows only overlay.mount_program=PATH"]
    assert host_mounts_under(user.base) == []


def test_limits_without_a_writable_cgroup_are_one_line(user: RootlessUser) -> None:
    cgroup = Path("/proc/self/cgroup").read_text().splitlines()
    if len(cgroup) == 1 and cgroup[0].startswith("0::"):
        pytest.skip("cgroup v2 here: whether the user may write its cgroup depends on delegation")
    ctx = user.context("limits", {"Containerfile": "FROM busybox\nRUN true\n"})
    for isolation in ("chroot", "oci"):
        proc = user.run("bud", "--isolation", isolation, "--memory", "64m", str(ctx), check=False)
        assert proc.returncode == 125 and proc.stderr.splitlines() == [
            "Error: " + str(ctx / "Containerfile").replace(str(user.base) + "/", "") + ":2: --memory/--cpu-*: rootless, "
            "and no cgroup this user may write here (limits need a delegated cgroup v2 subtree, as systemd gives "
            "a user's session)"], proc.stderr
