"""RUN through the executor without root: what the sandbox is asked (argv, env, cwd, user,
mounts), secrets (never in a key, a layer, the config or the store), bind/cache/tmpfs
mounts, and the fake sandbox itself. In-process over a vfs store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybuild.builder.sandbox.fake import FakeSandbox
from pybuild.builder.sandbox.spec import RunSpec
from pybuild.builder.store import Store
from pybuild.errors import PybuildError, StepFailed
from pybuild.events import OUTPUT
from tests.build_helpers import engine_build, image_tree

SECRET = "s3cr3t-value-0123456789"


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    c = tmp_path / "ctx"
    (c / "data").mkdir(parents=True)
    (c / "data" / "in.txt").write_text("input")
    return c


def store_bytes(store: Store) -> bytes:
    """Every file the store holds, concatenated (to look for a value anywhere in it)."""
    return b"".join(p.read_bytes() for p in sorted(store.root.rglob("*")) if p.is_file() and not p.is_symlink())


def test_run_gets_argv_env_and_output(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    _, ev = engine_build(store, ctx, "FROM scratch\nENV G=g\nARG A=a\nRUN echo $G $A\nRUN [\"echo\", \"exec\"]\n",
                         sandbox, run={"network": "host"})
    assert [e.message for e in ev if e.kind == OUTPUT] == ["g a\n", "exec\n"]
    shell, exec_form = sandbox.runs
    assert shell.argv == ["/bin/sh", "-c", "echo $G $A"]
    assert exec_form.argv == ["echo", "exec"]
    assert "G=g" in shell.env and "A=a" in shell.env and shell.env[0].startswith("PATH=")
    assert shell.network == "host" and shell.cwd == "/"


def test_shell_and_network_reach_the_run(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox(lambda spec: 0)
    engine_build(store, ctx, "FROM scratch\nSHELL [\"/bin/ash\", \"-xc\"]\nRUN --network=none true\n", sandbox,
                 output={"format": "docker"})
    (spec,) = sandbox.runs
    assert spec.argv == ["/bin/ash", "-xc", "true"] and spec.network == "none"


def test_the_host_network_fallback_is_said_once_per_build(store: Store, ctx: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pybuild.builder import run_step
    from pybuild.events import WARNING

    # a machine where private networking cannot be set up (as for a plain user)
    monkeypatch.setattr(run_step, "effective_mode", lambda m: "host" if m in (None, "", "default") else m)
    monkeypatch.setattr(run_step, "unavailable", lambda: "netavark is not installed")
    text = "FROM scratch AS a\nRUN touch /a\nRUN touch /b\nFROM scratch\nCOPY --from=a /a /a\nRUN touch /c\n"
    sandbox = FakeSandbox()
    for _ in range(2):  # every build says it again, once
        _, ev = engine_build(store, ctx, text, sandbox, no_cache=True, jobs=2)
        said = [e.message for e in ev if e.kind == WARNING]
        assert said == ["private networking cannot be set up (netavark is not installed): "
                        "RUN steps use the host's network"]
    assert [s.network for s in sandbox.runs] == ["host"] * 6


def test_an_unsupported_network_is_one_line_with_the_step(store: Store, ctx: Path) -> None:
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, "FROM scratch\nRUN true\n", run={"network": "bridge"})
    assert "--network bridge: unknown network mode" in str(e.value) and e.value.where == "Containerfile:2"


def test_an_unknown_command_is_127_as_in_a_shell(store: Store, ctx: Path) -> None:
    with pytest.raises(StepFailed) as e:
        engine_build(store, ctx, "FROM scratch\nRUN nosuchtool\n")
    assert e.value.status == 127


def test_a_secret_reaches_the_step_but_no_key_layer_config_or_store_file(store: Store, ctx: Path,
                                                                          tmp_path: Path) -> None:
    src = tmp_path / "token"
    src.write_text(SECRET)
    seen: list[str] = []

    def step(spec: RunSpec) -> int:
        (mount,) = [m for m in spec.mounts if m.target == "/run/secrets/tok"]
        assert mount.readonly
        seen.append(Path(mount.source or "").read_text())
        seen.extend(e for e in spec.env if e.startswith("TOK="))
        Path(spec.rootfs, "made").write_text("ok")
        return 0

    text = "FROM scratch\nRUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOK true\n"
    img, _ = engine_build(store, ctx, text, FakeSandbox(step), run={"secrets": {"tok": {"src": str(src)}}})
    assert seen == [SECRET, f"TOK={SECRET}"]
    assert SECRET.encode() not in store_bytes(store)
    assert SECRET not in json.dumps(image_tree(store, img), default=repr)
    # a new value of the secret is not a new step: the key holds its id, never its value
    src.write_text("another value")
    _, ev = engine_build(store, ctx, text, FakeSandbox(step), run={"secrets": {"tok": {"src": str(src)}}})
    assert ev.hits == 1
    assert not list((store.root / "tmp").glob("*secret*"))  # the scratch copy is gone


def test_a_required_secret_not_given_is_one_line(store: Store, ctx: Path) -> None:
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=x,required true\n")
    assert "secret 'x' is required" in str(e.value) and e.value.where == "Containerfile:2"
    # not required and not given: the step runs without it
    sandbox = FakeSandbox()
    engine_build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=x true\n", sandbox)
    assert sandbox.runs[0].mounts == []


def test_a_secret_from_the_environment(store: Store, ctx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PB_TEST_SECRET", SECRET)
    img, _ = engine_build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=e,env=E echo $E > /dev/null\n",
                          run={"secrets": {"e": {"env": "PB_TEST_SECRET"}}})
    assert SECRET.encode() not in store_bytes(store)
    monkeypatch.delenv("PB_TEST_SECRET")
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=e,env=E true\n", no_cache=True,
                     run={"secrets": {"e": {"env": "PB_TEST_SECRET"}}})
    assert "PB_TEST_SECRET is not set" in str(e.value)


def test_a_bind_mount_of_the_context_is_read_only_and_keyed_by_content(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nRUN --mount=type=bind,source=data,target=/mnt cat /mnt/in.txt > /copy\n"
    img, _ = engine_build(store, ctx, text)
    tree = image_tree(store, img)
    assert tree["copy"][-1] == b"input" and "mnt/in.txt" not in tree
    with pytest.raises(StepFailed):  # the fake refuses writes to a read-only mount, as a kernel would
        engine_build(store, ctx, "FROM scratch\nRUN --mount=type=bind,source=data,target=/mnt touch /mnt/x\n")
    _, ev = engine_build(store, ctx, text)
    assert ev.hits == 1
    (ctx / "data" / "in.txt").write_text("changed")
    img, ev = engine_build(store, ctx, text)
    assert ev.hits == 0 and image_tree(store, img)["copy"][-1] == b"changed"


def test_a_bind_mount_from_a_stage(store: Store, ctx: Path) -> None:
    text = ("FROM scratch AS base\nRUN echo from-stage > /f\n"
            "FROM scratch\nRUN --mount=type=bind,from=base,target=/b cat /b/f > /g\n")
    img, _ = engine_build(store, ctx, text)
    assert image_tree(store, img)["g"][-1] == b"from-stage\n"


def test_a_cache_mount_outlives_the_step_and_stays_out_of_the_layer(store: Store, ctx: Path) -> None:
    text = "FROM scratch\nARG N\nRUN --mount=type=cache,target=/c echo $N >> /c/log && cat /c/log > /seen\n"
    engine_build(store, ctx, text, build_args={"N": "1"})
    img, _ = engine_build(store, ctx, text, build_args={"N": "2"})
    tree = image_tree(store, img)
    assert tree["seen"][-1] == b"1\n2\n" and "c/log" not in tree


def test_a_tmpfs_mount_is_empty_each_time_and_not_in_the_layer(store: Store, ctx: Path) -> None:
    img, _ = engine_build(store, ctx, "FROM scratch\nRUN --mount=type=tmpfs,target=/t touch /t/x && test -e /t/x "
                                      "&& touch /ok\n")
    tree = image_tree(store, img)
    assert "ok" in tree and "t/x" not in tree


def test_a_relative_mount_target_is_under_workdir(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    engine_build(store, ctx, "FROM scratch\nWORKDIR /w\nRUN --mount=type=tmpfs,target=scratch true\n", sandbox)
    assert [m.target for m in sandbox.runs[0].mounts] == ["/w/scratch"]


def test_a_shebang_heredoc_runs_as_its_own_file(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    img, _ = engine_build(store, ctx, "FROM scratch\nRUN <<EOF\n#!/bin/sh\necho hd > /hd\nEOF\n", sandbox)
    assert sandbox.runs[0].argv == ["/dev/pipes/EOF"]
    assert image_tree(store, img)["hd"][-1] == b"hd\n"


def test_add_host_dns_and_caps_reach_the_spec(store: Store, ctx: Path) -> None:
    sandbox = FakeSandbox()
    engine_build(store, ctx, "FROM scratch\nRUN true\n", sandbox,
                 run={"add_hosts": ["db:10.0.0.9"], "dns": ["10.0.0.53"], "cap_drop": ["CAP_CHOWN"]})
    (spec,) = sandbox.runs
    assert "10.0.0.9\tdb\n" in spec.hosts
    assert "nameserver 10.0.0.53" in spec.resolv_conf
    assert "CAP_CHOWN" not in spec.capabilities and "CAP_KILL" in spec.capabilities
    with pytest.raises(PybuildError) as e:
        engine_build(store, ctx, "FROM scratch\nRUN true\n", run={"add_hosts": ["nocolon"]}, no_cache=True)
    assert "invalid --add-host" in str(e.value)


def test_the_fake_shell(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    out: list[bytes] = []

    def run(script: str) -> int:
        return FakeSandbox().run(RunSpec(rootfs=str(root), argv=["/bin/sh", "-c", script], env=["X=x"],
                                         output=out.append))

    assert run("mkdir -p /a/b && echo ${X}1 > /a/f; echo more >> /a/f; ln -s f /a/l; chmod 600 /a/f") == 0
    assert (root / "a" / "f").read_text() == "x1\nmore\n" and (root / "a" / "l").is_symlink()
    assert oct((root / "a" / "f").stat().st_mode & 0o777) == "0o600"
    assert run("false || touch /or; false && touch /and") == 1
    assert (root / "or").exists() and not (root / "and").exists()
    assert run("rm -r /a; test -d /a") == 1
    assert run("rm /missing") == 1 and run("rm -f /missing") == 0
    assert run("exit 4; touch /never") == 4 and not (root / "never").exists()
    assert run("touch ../../escape") == 0 and (root / "escape").exists()  # resolved inside the rootfs
    out.clear()
    assert run("pwd; id; cat /or") == 0 and b"".join(out) == b"/\nuid=0 gid=0\n"


def test_a_step_sees_home_as_runc_gives_it(store: Store, tmp_path: Path) -> None:
    # runc's init sets HOME from the rootfs's passwd when the env has none, and chroot isolation
    # must give the same (buildah's steps see HOME=/root): the engine sets it, last, as runc does
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    sandbox = FakeSandbox()
    engine_build(store, ctx, "FROM scratch\nCOPY passwd /etc/passwd\nRUN true\nUSER app\nRUN true\n"
                             "ENV HOME=/mine\nRUN true\n", sandbox)
    envs = [spec.env for spec in sandbox.runs]
    assert envs[0][-1] == "HOME=/root" and envs[1][-1] == "HOME=/home/app"
    assert [e for e in envs[2] if e.startswith("HOME=")] == ["HOME=/mine"]  # an ENV HOME is kept
