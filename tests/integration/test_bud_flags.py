"""`pybuild bud` RUN mounts, flags and the "Building" hazards of SECURITY.md, through the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from bud_helpers import Store, context, layer_members, make_store, mounts_under, need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]

SECRET = "s3cr3t-value-7f1d2c"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    need_tool("umoci")
    yield make_store(tmp_path_factory.mktemp("budflags"))


def _read(rootfs: Path, path: str) -> str:
    return (rootfs / path.lstrip("/")).read_text()


# ---------------------------------------------------------------- RUN --mount


def test_bind_mount_from_context_is_readonly_and_rw_writes_vanish(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, """FROM busybox
RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /seen && (touch /ctx/new 2>/dev/null && echo rw > /ro-write || echo refused > /ro-write)
RUN --mount=type=bind,target=/ctx,rw echo scribble > /ctx/data.txt && touch /ctx/made && cat /ctx/data.txt > /rw-seen
""", {"data.txt": "from context\n"})
    store.bud(ctx, "-t", "bindmount")
    root = store.rootfs("bindmount", tmp_path / "x")
    assert _read(root, "/seen") == "from context\n"
    assert _read(root, "/ro-write") == "refused\n"
    assert _read(root, "/rw-seen") == "scribble\n"
    assert (ctx / "data.txt").read_text() == "from context\n"
    assert not (ctx / "made").exists()
    assert not (root / "ctx" / "made").exists()


def test_cache_mount_persists_between_builds(store: Store, tmp_path: Path) -> None:
    text = """FROM busybox
ARG N
RUN --mount=type=cache,target=/cache,id=counter,sharing=locked echo $N >> /cache/log && cat /cache/log > /log-$N
"""
    ctx = context(tmp_path, text)
    store.bud(ctx, "-t", "cache1", "--build-arg", "N=1")
    store.bud(ctx, "-t", "cache2", "--build-arg", "N=2")
    root = store.rootfs("cache2", tmp_path / "x")
    assert _read(root, "/log-2") == "1\n2\n"
    assert not (root / "cache" / "log").exists()  # the cache is not part of the image


def test_cache_id_with_dotdot_stays_in_store(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "escape-target"
    ctx = context(tmp_path, """FROM busybox
RUN --mount=type=cache,target=/c,id=../../../../../../tmp/escape-marker touch /c/planted
""")
    store.bud(ctx, "-t", "cachedots")
    assert not Path("/tmp/escape-marker").exists()
    assert not outside.exists()
    planted = [p for p in (store.root / "cache").rglob("planted")]
    assert planted and all(str(p).startswith(str(store.root)) for p in planted)


def test_tmpfs_mount(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, """FROM busybox
RUN --mount=type=tmpfs,target=/scratch grep ' /scratch tmpfs ' /proc/mounts > /mounted && echo x > /scratch/f
""")
    store.bud(ctx, "-t", "tmpfsmount")
    root = store.rootfs("tmpfsmount", tmp_path / "x")
    assert "tmpfs" in _read(root, "/mounted")
    assert not (root / "scratch" / "f").exists()


def test_secret_is_readable_and_nowhere_in_the_image(store: Store, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    ctx = context(tmp_path, """FROM busybox
RUN --mount=type=secret,id=x wc -c < /run/secrets/x > /secret-len && sha256sum /run/secrets/x | cut -d' ' -f1 > /secret-sum
RUN --mount=type=secret,id=x,target=/etc/creds cp /etc/creds /dev/null && echo ok > /second
""")
    r = store.bud(ctx, "-t", "secrets", "--secret", f"id=x,src={secret}")
    assert SECRET not in r.stdout + r.stderr
    layout = store.export("secrets", tmp_path / "layout")
    manifest, config, members = layer_members(layout)
    names = {n for n, _ in members}
    assert not any(n.rstrip("/").endswith(("run/secrets/x", "etc/creds")) for n in names), names
    assert all(SECRET.encode() not in content for _, content in members)
    assert SECRET not in json.dumps(config) and SECRET not in json.dumps(manifest)
    assert SECRET not in store.run("inspect", "secrets").stdout
    root = store.rootfs("secrets", tmp_path / "x")
    assert _read(root, "/secret-len").strip() == str(len(SECRET))
    assert _read(root, "/secret-sum").strip() == hashlib.sha256(SECRET.encode()).hexdigest()
    assert not (root / "etc" / "creds").exists()
    # nothing of the secret is left in the store either
    grep = subprocess.run(["grep", "-rl", SECRET, str(store.root)], capture_output=True, text=True)
    assert grep.stdout == ""


# ---------------------------------------------------------------- flags


def test_build_args_and_arg_file_and_target(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, """ARG A=a-default
FROM busybox AS first
ARG A
ARG B=b-default
ARG C
RUN echo "$A $B $C" > /args
FROM first AS second
RUN exit 1
""")
    argfile = tmp_path / "args.conf"
    argfile.write_text("# comment\nB=from-file\nC=c-file\n")
    store.bud(ctx, "-t", "args", "--build-arg-file", str(argfile), "--build-arg", "C=c-cli", "--target", "first")
    root = store.rootfs("args", tmp_path / "x")
    assert _read(root, "/args") == "a-default from-file c-cli\n"


def test_label_annotation_iidfile(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nLABEL from.file=1\n")
    iid = tmp_path / "iid"
    store.bud(ctx, "-t", "labelled", "--label", "team=core", "--annotation", "org.example.note=hi",
              "--iidfile", str(iid))
    cfg = store.config("labelled")
    assert cfg["config"]["Labels"]["team"] == "core"
    assert cfg["config"]["Labels"]["from.file"] == "1"
    assert iid.read_text().startswith("sha256:")
    assert iid.read_text().removeprefix("sha256:") in store.image_ids()
    manifest, _, _ = layer_members(store.export("labelled", tmp_path / "layout"))
    assert manifest.get("annotations", {}).get("org.example.note") == "hi"


def test_format_docker_keeps_healthcheck_onbuild_shell(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, """FROM busybox
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo child
""")
    store.bud(ctx, "-t", "dockerfmt", "--format", "docker")
    archive = tmp_path / "img.tar"
    store.run("push", "dockerfmt", f"docker-archive:{archive}:dockerfmt:latest")
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tf.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    c = config["config"]
    assert c["Shell"] == ["/bin/sh", "-ec"]
    assert c["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert c["OnBuild"] == ["RUN echo child"]


def test_squash_gives_one_layer(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo 1 > /1\nRUN rm /1 && echo 2 > /2\n")
    store.bud(ctx, "-t", "squashed", "--squash")
    cfg = store.config("squashed")
    assert len(cfg["rootfs"]["diff_ids"]) == 1
    root = store.rootfs("squashed", tmp_path / "x")
    assert (root / "bin" / "busybox").is_file() and (root / "2").is_file() and not (root / "1").exists()


def test_outputs_local_and_tar(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN echo out > /out.txt\n")
    dest = tmp_path / "local"
    tar = tmp_path / "out.tar"
    store.bud(ctx, "-o", f"type=local,dest={dest}", "-o", f"type=tar,dest={tar}")
    assert (dest / "out.txt").read_text() == "out\n"
    assert (dest / "bin" / "busybox").is_file()
    with tarfile.open(tar) as tf:
        names = {m.name.lstrip("./") for m in tf}
    assert "out.txt" in names and "bin/busybox" in names


def test_containerfile_from_stdin_and_build_alias(store: Store, tmp_path: Path) -> None:
    ctx = tmp_path / "emptyctx"
    ctx.mkdir()
    store.run("build", "-t", "stdin", "-f", "-", str(ctx), input="FROM busybox\nRUN echo stdin > /s\n")
    root = store.rootfs("stdin", tmp_path / "x")
    assert _read(root, "/s") == "stdin\n"


def test_unsetenv(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nENV KEEP=1 DROP=2\n")
    store.bud(ctx, "-t", "unset", "--unsetenv", "DROP")
    env = store.config("unset")["config"]["Env"]
    assert "KEEP=1" in env and not any(e.startswith("DROP=") for e in env)


@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_run_options(store: Store, tmp_path: Path, isolation: str) -> None:
    if isolation == "oci":
        need_tool("runc")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in.txt").write_text("from volume\n")
    ctx = context(tmp_path, """FROM busybox
RUN ls /sys/class/net > /ifaces; cat /etc/hosts > /hosts; grep CapEff /proc/self/status > /caps; cat /v/in.txt > /vol-seen
""")
    store.bud(ctx, "-t", f"runopts-{isolation}", "--isolation", isolation, "--network", "none",
              "--add-host", "myhost:10.1.2.3", "--cap-add", "CAP_SYS_ADMIN", "--cap-drop", "CAP_CHOWN",
              "-v", f"{vol}:/v:ro", "--no-cache")
    root = store.rootfs(f"runopts-{isolation}", tmp_path / "x")
    assert _read(root, "/ifaces").split() == ["lo"]
    assert "10.1.2.3\tmyhost" in _read(root, "/hosts")
    eff = int(_read(root, "/caps").split()[1], 16)
    assert eff & (1 << 21)  # CAP_SYS_ADMIN added
    assert not eff & (1 << 0)  # CAP_CHOWN dropped
    assert _read(root, "/vol-seen") == "from volume\n"
    assert not (root / "v" / "in.txt").exists()


# ---------------------------------------------------------------- security


def test_context_symlink_outside_is_copied_as_link(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nCOPY . /ctx/\n", {"f": "f\n"})
    (tmp_path / "host-secret").write_text("host data\n")
    os.symlink(str(tmp_path / "host-secret"), ctx / "abs-link")
    os.symlink("../host-secret", ctx / "rel-link")
    os.symlink(str(tmp_path), ctx / "link-dir")
    store.bud(ctx, "-t", "ctxlinks")
    _, _, members = layer_members(store.export("ctxlinks", tmp_path / "layout"))
    assert all(b"host data" not in content for _, content in members)
    root = store.rootfs("ctxlinks", tmp_path / "x")
    assert os.readlink(root / "ctx" / "abs-link") == str(tmp_path / "host-secret")
    assert os.readlink(root / "ctx" / "rel-link") == "../host-secret"
    assert os.readlink(root / "ctx" / "link-dir") == str(tmp_path)


def test_copy_source_through_outside_symlink_is_refused(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nCOPY link-dir/host-secret /got\n")
    (tmp_path / "host-secret").write_text("host data\n")
    os.symlink(str(tmp_path), ctx / "link-dir")
    r = store.bud(ctx, "-t", "ctxlinks2", check=False)
    assert r.returncode != 0  # the link resolves inside the context, where nothing is
    assert "Containerfile:2" in r.stderr and "Traceback" not in r.stderr


def test_copy_through_symlinked_destination_stays_in_rootfs(store: Store, tmp_path: Path) -> None:
    marker = "pybuild-test-must-not-reach-host"
    ctx = context(tmp_path, f"FROM busybox\nRUN ln -s /etc /app\nCOPY {marker} /app/\nCOPY {marker} /app/sub/\n",
                  {marker: "x\n"})
    store.bud(ctx, "-t", "symdest")
    assert not Path("/etc", marker).exists()
    assert not Path("/etc/sub", marker).exists()
    root = store.rootfs("symdest", tmp_path / "x")
    assert (root / "etc" / marker).is_file()
    assert (root / "etc" / "sub" / marker).is_file()


def test_bind_from_stage_with_root_symlink_does_not_expose_host(store: Store, tmp_path: Path) -> None:
    canary = tmp_path / "host-canary"
    canary.write_text("HOST\n")
    ctx = context(tmp_path, f"""FROM busybox AS evil
RUN ln -s / /rootlink && mkdir -p /d && ln -s / /d/up
FROM busybox
RUN --mount=type=bind,from=evil,source=/rootlink,target=/m (cat /m{canary} 2>/dev/null || echo absent) > /r1
RUN --mount=type=bind,from=evil,source=/d/up,target=/m (cat /m{canary} 2>/dev/null || echo absent) > /r2
""")
    store.bud(ctx, "-t", "bindevil")
    root = store.rootfs("bindevil", tmp_path / "x")
    assert _read(root, "/r1") == "absent\n"
    assert _read(root, "/r2") == "absent\n"


def test_workdir_proc_self_fd_does_not_leak(store: Store, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    base = context(tmp_path / "b", "FROM busybox\nWORKDIR /proc/self/fd/7\n")
    store.bud(base, "-t", "fdbase")
    for isolation in ("chroot", "oci"):
        if isolation == "oci" and not need_tool_quiet("runc"):
            continue
        d = tmp_path / f"c-{isolation}"
        d.mkdir()
        ctx = context(d, "FROM fdbase\nRUN (ls -la .. ; pwd) > /leak 2>&1 || true\n")
        r = store.bud(ctx, "-t", f"fdleak-{isolation}", "--isolation", isolation, "--no-cache", check=False)
        if r.returncode == 0:
            root = store.rootfs(f"fdleak-{isolation}", d / "x")
            text = _read(root, "/leak")
            assert str(store.root) not in text and "/var/lib" not in text
        else:
            assert "Traceback" not in r.stderr
    assert mounts_under(store.root) == []


def need_tool_quiet(name: str) -> bool:
    import shutil

    return shutil.which(name) is not None


def test_second_store_unaffected(tmp_path: Path) -> None:
    """A store built from scratch works without the module's store (no shared state)."""
    s = make_store(tmp_path)
    assert len(s.image_ids()) == 1
