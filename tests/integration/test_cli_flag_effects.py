"""Flags buildah users type, end to end: each has its effect on a real build, run or prune.

(Parsing and refusals: tests/unit/test_cli_flags.py; here what the flags do.)
One busybox store per module; each test works on its own copy.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from containers_helpers import busybox_store, clone_store, pybuild

from tests.conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root (mounts, namespaces, chown)")
    return busybox_store(tmp_path_factory.mktemp("cli-flags"))


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    return clone_store(template, tmp_path / "store")


def _context(tmp: Path, text: str) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return ctx


def _logging_runtime(tmp: Path) -> tuple[Path, Path]:
    """A runtime that records each command line it gets, then is runc."""
    runc = need_tool("runc")
    log = tmp / "runtime.log"
    wrapper = tmp / "logging-runc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {runc} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def _steps_run(log: Path) -> int:
    """How many steps the runtime was asked to make (``runc create --bundle ...``, one per step)."""
    return sum(" create --bundle " in f" {line}" for line in log.read_text().splitlines()) if log.exists() else 0


def test_bare_layers_then_no_cache_builds(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo built > /stamp\n")
    pybuild(root, "bud", "--layers", "--no-cache", "-t", "x", str(ctx))
    ctr = pybuild(root, "from", "x").stdout.strip()
    assert pybuild(root, "run", ctr, "--", "cat", "/stamp").stdout == "built\n"


def test_run_steps_use_the_runtime_given(root: Path, tmp_path: Path) -> None:
    wrapper, log = _logging_runtime(tmp_path)
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "run", ctr, "--", "true")
    assert _steps_run(log) == 0  # runc itself, not the wrapper, by default
    out = pybuild(root, "run", "--runtime", str(wrapper), ctr, "--", "echo", "via wrapper")
    assert out.stdout == "via wrapper\n" and _steps_run(log) == 1


def test_bud_steps_use_the_runtime_given(root: Path, tmp_path: Path) -> None:
    wrapper, log = _logging_runtime(tmp_path)
    ctx = _context(tmp_path, "FROM busybox\nRUN echo one > /1\nRUN echo two > /2\n")
    pybuild(root, "bud", "--no-cache", "--runtime", str(wrapper), "-t", "rt", str(ctx))
    assert _steps_run(log) == 2
    pybuild(root, "bud", "--no-cache", "-t", "rt", str(ctx))
    assert _steps_run(log) == 2


def test_rm_and_force_rm_leave_no_container(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN exit 3\n")
    proc = pybuild(root, "bud", "--rm", "--force-rm=true", "-t", "fails", str(ctx), check=False)
    assert proc.returncode == 3
    assert json.loads(pybuild(root, "containers", "--all", "--json").stdout) == []


def test_buildah_layers_variable_is_the_layers_default(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo 1 > /1\nRUN echo 2 > /2\n")
    env = {**os.environ, "BUILDAH_LAYERS": "false"}
    pybuild(root, "bud", "-t", "one", str(ctx), env=env)
    base = len(json.loads(pybuild(root, "inspect", "busybox").stdout)["OCIv1"]["rootfs"]["diff_ids"])
    layers = json.loads(pybuild(root, "inspect", "one").stdout)["OCIv1"]["rootfs"]["diff_ids"]
    assert len(layers) == base + 1  # --layers=false: one new layer for the stage, not one per RUN


def test_prune_force_removes_the_containers_of_pruned_images(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "prune", "--all")
    assert [i["names"] for i in json.loads(pybuild(root, "images", "--json").stdout)] == [
        ["localhost/busybox:latest"]]  # in use: kept
    pybuild(root, "prune", "--all", "--force")
    assert json.loads(pybuild(root, "images", "--json").stdout) == []
    assert json.loads(pybuild(root, "containers", "--json").stdout) == []
    assert pybuild(root, "rm", ctr, check=False).returncode != 0


def test_from_cidfile_holds_the_container_id(root: Path, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    name = pybuild(root, "from", "--cidfile", str(cidfile), "busybox").stdout.strip()
    ids = {c["containername"]: c["id"] for c in json.loads(pybuild(root, "containers", "--json").stdout)}
    assert cidfile.read_text() == ids[name]


@pytest.mark.parametrize("flags, arch", [([], None), (["--arch", "arm64"], "arm64"),
                                         (["--platform", "linux/arm64"], "arm64"),
                                         (["--os", "linux", "--arch", "amd64"], "amd64")])
def test_pull_picks_the_platform_asked(root: Path, tmp_path: Path, flags: list[str], arch: str | None) -> None:
    from transport_helpers import make_multiarch, new_layout

    from pybuild.oci.platform_host import host_platform

    make_multiarch(new_layout(tmp_path / "layout"), "multi")
    image_id = pybuild(root, "pull", "-q", *flags, f"oci:{tmp_path / 'layout'}:multi").stdout.strip()
    config = json.loads(pybuild(root, "inspect", "--type", "image", image_id).stdout)["OCIv1"]
    assert config["architecture"] == (arch or host_platform().architecture)


def _cap_bounding(root: Path, ctr: str, *flags: str) -> int:
    out = pybuild(root, "run", *flags, ctr, "--", "grep", "CapBnd", "/proc/self/status").stdout
    return int(out.split()[-1], 16)


def test_run_cap_add_and_cap_drop(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    sys_admin, chown = 1 << 21, 1 << 0
    base = _cap_bounding(root, ctr)
    assert not base & sys_admin and base & chown
    assert _cap_bounding(root, ctr, "--cap-add", "CAP_SYS_ADMIN") == base | sys_admin
    assert _cap_bounding(root, ctr, "--cap-drop", "CAP_CHOWN") == base & ~chown


def test_run_add_host_and_hostname(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    hosts = pybuild(root, "run", "--add-host", "db.internal:10.1.2.3", ctr, "--", "cat", "/etc/hosts").stdout
    assert any(line.split() == ["10.1.2.3", "db.internal"] for line in hosts.splitlines()), hosts
    assert pybuild(root, "run", "--hostname", "box", ctr, "--", "hostname").stdout == "box\n"


def _layer_mtimes(root: Path, image: str, dest: Path) -> dict[str, int]:
    """name -> mtime of every entry of the image's top layer, as pushed."""
    import tarfile

    pybuild(root, "push", "-D", image, f"oci:{dest}:x")
    index = json.loads((dest / "index.json").read_text())
    manifest = json.loads((dest / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    with tarfile.open(dest / "blobs" / "sha256" / manifest["layers"][-1]["digest"].split(":")[1]) as tar:
        return {m.name: int(m.mtime) for m in tar.getmembers()}


def test_bud_source_date_epoch_and_rewrite_timestamp(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo x > /made\n")
    pybuild(root, "bud", "--source-date-epoch", "1700000000", "--rewrite-timestamp", "-t", "sde", str(ctx))
    config = json.loads(pybuild(root, "inspect", "sde").stdout)["OCIv1"]
    assert config["created"].startswith("2023-11-14T22:13:20")
    assert _layer_mtimes(root, "sde", tmp_path / "out")["made"] == 1700000000
    pybuild(root, "bud", "--no-cache", "--source-date-epoch", "1700000000", "-t", "sde-kept", str(ctx))
    assert _layer_mtimes(root, "sde-kept", tmp_path / "out2")["made"] > 1700000000  # without: not clamped


def test_a_container_sees_the_rewritten_timestamps(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo x > /made\n")
    pybuild(root, "bud", "--source-date-epoch", "1700000000", "--rewrite-timestamp", "-t", "sde", str(ctx))
    ctr = pybuild(root, "from", "sde").stdout.strip()
    assert pybuild(root, "run", ctr, "--", "stat", "-c", "%Y", "/made").stdout.strip() == "1700000000"


def test_bud_ignorefile(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nCOPY . /ctx/\n")
    (ctx / "kept").write_text("k")
    (ctx / "dropped").write_text("d")
    ignore = tmp_path / "my.ignore"
    ignore.write_text("dropped\n")
    pybuild(root, "bud", "--ignorefile", str(ignore), "-t", "ign", str(ctx))
    ctr = pybuild(root, "from", "ign").stdout.strip()
    assert pybuild(root, "run", ctr, "--", "ls", "/ctx").stdout.split() == ["Containerfile", "kept"]


def test_config_healthcheck_times_comment_os_variant(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "config", "--healthcheck", "CMD true", "--healthcheck-timeout", "5s",
            "--healthcheck-start-period", "7s", "--healthcheck-start-interval", "2s", "--comment", "made here",
            "--os", "linux", "--variant", "v9", ctr)
    pybuild(root, "commit", "--format", "docker", ctr, "hc")
    data = json.loads(pybuild(root, "inspect", "hc").stdout)
    check = data["Docker"]["config"]["Healthcheck"]
    assert (check["Timeout"], check["StartPeriod"], check["StartInterval"]) == (5 * 10**9, 7 * 10**9, 2 * 10**9)
    assert data["Docker"]["history"][-1].get("comment") == "made here"
    assert data["Docker"]["os"] == "linux" and data["Docker"].get("variant") == "v9"


def test_no_trunc_and_rmi_prune(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    short = pybuild(root, "containers", "-q").stdout.split()
    full = pybuild(root, "containers", "-q", "--no-trunc").stdout.split()
    assert [len(i) for i in short] == [12] and [len(i) for i in full] == [64] and full[0].startswith(short[0])
    assert [len(i) for i in pybuild(root, "images", "-q", "--no-trunc").stdout.split()] == [64]
    dangling = pybuild(root, "commit", "--rm", ctr).stdout.strip()  # no name
    assert pybuild(root, "rmi", "--prune").stdout.split() == [dangling]
    assert len(json.loads(pybuild(root, "images", "--json").stdout)) == 1


def test_from_pull_always_asks_the_registry(root: Path) -> None:
    name = "127.0.0.1:9/none/busybox"  # the discard port: nothing listens
    pybuild(root, "tag", "busybox", name)
    assert pybuild(root, "from", name).returncode == 0  # missing (the default): the local image
    for flags in (["--pull-always"], ["--pull=always"], ["--pull"]):
        proc = pybuild(root, "from", *flags, name, check=False)
        assert proc.returncode == 125 and "cannot reach registry 127.0.0.1:9" in proc.stderr, flags


def test_push_disable_compression(root: Path, tmp_path: Path) -> None:
    def layer_types(dest: Path, *flags: str) -> set[str]:
        pybuild(root, "push", *flags, "busybox", f"oci:{dest}:b")
        index = json.loads((dest / "index.json").read_text())
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads((dest / "blobs" / "sha256" / digest).read_text())
        return {layer["mediaType"] for layer in manifest["layers"]}

    assert layer_types(tmp_path / "gz") == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert layer_types(tmp_path / "raw", "-D") == {"application/vnd.oci.image.layer.v1.tar"}


def test_cert_dir_on_the_registry_verbs(root: Path, tmp_path: Path, tls_registry: Any) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_registry.ca_path, certs / "ca.crt")
    ref = f"{tls_registry.host}/flags/busybox:1"
    refused = pybuild(root, "push", "--tls-verify", "busybox", f"docker://{ref}", check=False)
    assert refused.returncode == 125 and "certificate" in refused.stderr.lower()
    verified = ["--tls-verify", "--cert-dir", str(certs)]
    pybuild(root, "push", *verified, "busybox", f"docker://{ref}")
    pybuild(root, "pull", "-q", *verified, ref)
    pybuild(root, "from", "--pull=always", *verified, ref)
    assert json.loads(pybuild(root, "image", "inspect", *verified, f"docker://{ref}").stdout)["Name"]
    tags = json.loads(pybuild(root, "image", "list-tags", *verified, f"docker://{ref.rsplit(':', 1)[0]}").stdout)
    assert tags["Tags"] == ["1"]


def test_creds_on_the_registry_verbs(root: Path, basic_registry: Any) -> None:
    ref = f"{basic_registry.host}/flags/busybox:1"
    denied = pybuild(root, "push", "busybox", f"docker://{ref}", check=False)
    assert denied.returncode == 125
    pybuild(root, "push", "--creds", "user:pass", "busybox", f"docker://{ref}")
    pybuild(root, "pull", "-q", "--creds", "user:pass", ref)
    pybuild(root, "from", "--pull=always", "--creds", "user:pass", ref)
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "commit", "--creds", "user:pass", ctr, f"docker://{basic_registry.host}/flags/committed:1")
    tags = pybuild(root, "image", "list-tags", "--creds", "user:pass", f"docker://{basic_registry.host}/flags/committed")
    assert json.loads(tags.stdout)["Tags"] == ["1"]


def test_log_level_error_hides_warnings(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nHEALTHCHECK CMD true\n")  # OCI has no HEALTHCHECK: a warning
    warned = pybuild(root, "bud", "--no-cache", "-t", "hc", str(ctx))
    assert "WARN:" in warned.stderr
    for level in ("error", "fatal", "panic"):
        quiet = pybuild(root, "--log-level", level, "bud", "--no-cache", "-t", "hc", str(ctx))
        assert "WARN:" not in quiet.stderr, level


def test_bud_env_sets_the_image_env(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nENV A=0 KEEP=yes\n")
    env = {**os.environ, "FROM_HOST": "2"}
    env.pop("NOT_SET_ANYWHERE", None)
    pybuild(root, "bud", "--env", "A=1", "--env", "FROM_HOST", "--env", "NOT_SET_ANYWHERE", "-t", "env", str(ctx),
            env=env)
    image_env = json.loads(pybuild(root, "inspect", "env").stdout)["OCIv1"]["config"]["Env"]
    assert {"A=1", "KEEP=yes", "FROM_HOST=2"} <= set(image_env) and "A=0" not in image_env
    assert not any(e.startswith("NOT_SET_ANYWHERE") for e in image_env)


def test_bud_and_commit_manifest_fill_a_list(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo > /x\n")
    built = pybuild(root, "bud", "-q", "--manifest", "flags-list", "-t", "m1", str(ctx)).stdout.split()[-1]
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "run", ctr, "--", "touch", "/y")
    committed = pybuild(root, "commit", "--manifest", "flags-list", ctr, "m2").stdout.strip()
    assert built != committed
    index = json.loads(pybuild(root, "manifest", "inspect", "flags-list").stdout)
    assert len({m["digest"] for m in index["manifests"]}) == 2  # one entry each


def test_pull_policy(root: Path) -> None:
    name, absent = "127.0.0.1:9/none/busybox", "127.0.0.1:9/none/absent"  # the discard port: nothing listens
    pybuild(root, "tag", "busybox", name)
    ids = {i["id"] for i in json.loads(pybuild(root, "images", "--json").stdout)}
    assert pybuild(root, "pull", "--policy", "missing", name).stdout.strip() in ids  # the registry is not asked
    assert pybuild(root, "pull", "--policy=never", name).stdout.strip() in ids
    asked = pybuild(root, "pull", name, check=False)  # always (the default): the registry is asked
    assert asked.returncode == 125 and "cannot reach registry" in asked.stderr
    never = pybuild(root, "pull", "--policy", "never", absent, check=False)
    assert never.returncode == 125 and "--policy=never" in never.stderr and "cannot reach" not in never.stderr


def test_from_picks_the_platform_asked(root: Path, tmp_path: Path) -> None:
    from transport_helpers import make_multiarch, new_layout

    make_multiarch(new_layout(tmp_path / "layout"), "multi")
    ctr = pybuild(root, "from", "--arch", "arm64", f"oci:{tmp_path / 'layout'}:multi").stdout.strip()
    data = json.loads(pybuild(root, "inspect", "--type", "container", ctr).stdout)
    assert data["OCIv1"]["architecture"] == "arm64"


def _authfile(path: Path, host: str) -> Path:
    import base64

    path.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(b"user:pass").decode()}}}))
    return path


def test_image_copy_per_end_registry_flags(root: Path, tmp_path: Path, basic_registry: Any,
                                           tls_registry: Any) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_registry.ca_path, certs / "ca.crt")
    basic, tls = f"docker://{basic_registry.host}/flags", f"docker://{tls_registry.host}/flags"
    pybuild(root, "push", "busybox", f"oci:{tmp_path / 'layout'}:b")
    layout = f"oci:{tmp_path / 'layout'}:b"
    assert pybuild(root, "image", "copy", layout, f"{basic}/a:1", check=False).returncode == 125  # no creds
    pybuild(root, "image", "copy", "--dest-creds", "user:pass", layout, f"{basic}/a:1")
    auth = _authfile(tmp_path / "auth.json", basic_registry.host)
    pybuild(root, "image", "copy", "--dest-authfile", str(auth), layout, f"{basic}/a:2")
    refused = pybuild(root, "image", "copy", "--src-authfile", str(tmp_path / "none.json"), f"{basic}/a:1",
                      f"{tls}/a:1", check=False)
    assert refused.returncode == 125
    pybuild(root, "image", "copy", "--src-creds", "user:pass", "--dest-tls-verify", "--dest-cert-dir", str(certs),
            f"{basic}/a:1", f"{tls}/a:1")
    pybuild(root, "image", "copy", "--src-authfile", str(auth), "--src-tls-verify", "--src-cert-dir", str(certs),
            f"{tls}/a:1", f"oci:{tmp_path / 'back'}:b")
    assert (tmp_path / "back" / "index.json").is_file()


def test_login_cert_dir(tmp_path: Path, tls_registry: Any) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_registry.ca_path, certs / "ca.crt")
    auth = tmp_path / "auth.json"
    args = ["login", "--tls-verify", "--authfile", str(auth), "-u", "someone", "-p", "secret", tls_registry.host]
    refused = pybuild(tmp_path / "root", *args, check=False)
    assert refused.returncode == 125 and "certificate" in refused.stderr.lower()
    assert "Login Succeeded" in pybuild(tmp_path / "root", *args[:1], "--cert-dir", str(certs), *args[1:]).stdout
    assert tls_registry.host in json.loads(auth.read_text())["auths"]


def test_manifest_and_signing_verbs_take_creds(root: Path, tmp_path: Path, basic_registry: Any) -> None:
    host = basic_registry.host
    pybuild(root, "push", "--creds", "user:pass", "busybox", f"docker://{host}/flags/one:1")
    auth = _authfile(tmp_path / "auth.json", host)
    pybuild(root, "manifest", "create", "--creds", "user:pass", "l1", f"docker://{host}/flags/one:1")
    pybuild(root, "manifest", "create", "--authfile", str(auth), "l2", f"docker://{host}/flags/one:1")
    pybuild(root, "manifest", "create", "l3")
    pybuild(root, "manifest", "add", "--creds", "user:pass", "l3", f"docker://{host}/flags/one:1")
    for name in ("l1", "l2", "l3"):
        assert len(json.loads(pybuild(root, "manifest", "inspect", name).stdout)["manifests"]) == 1
    keys = tmp_path / "k"
    env = {**os.environ, "KEY_PASSWORD": "s3cret"}
    pybuild(root, "generate-key-pair", "--password-env", "KEY_PASSWORD", "--output-key-prefix", str(keys), env=env)
    assert b"ENCRYPTED" in (tmp_path / "k.key").read_bytes()
    image = f"docker://{host}/flags/one:1"
    unsigned = pybuild(root, "sign", "--key", f"{keys}.key", "--password-env", "KEY_PASSWORD", image, check=False,
                       env=env)
    assert unsigned.returncode == 125  # no credentials for the registry
    pybuild(root, "sign", "--key", f"{keys}.key", "--password-env", "KEY_PASSWORD", "--creds", "user:pass", image,
            env=env)
    pybuild(root, "sign", "--key", f"{keys}.key", "--password-env", "KEY_PASSWORD", "--authfile", str(auth), image,
            env=env)
    claims = json.loads(pybuild(root, "verify", "--key", f"{keys}.pub", "--creds", "user:pass", image).stdout)
    assert len(claims) == 2
    assert pybuild(root, "verify", "--key", f"{keys}.pub", "--authfile", str(auth), image).returncode == 0


def test_retry_counts_the_retries(root: Path, proxy: Any) -> None:
    from registry_fixtures import Fault

    ref = f"{proxy.host}/flags/busybox:1"
    pybuild(root, "push", "busybox", f"docker://{ref}")

    def manifest_gets() -> int:
        return sum(1 for method, path, _ in proxy.log if method == "GET" and "/manifests/1" in path)

    proxy.inject(Fault("GET", "/manifests/1", "status", times=2, status=503))
    proxy.log.clear()
    failed = pybuild(root, "pull", "-q", "--retry", "1", "--retry-delay", "10ms", ref, check=False)
    assert failed.returncode == 125 and "503" in failed.stderr and manifest_gets() == 2
    proxy.faults.clear()
    proxy.inject(Fault("GET", "/manifests/1", "status", times=2, status=503))
    proxy.log.clear()
    pybuild(root, "pull", "-q", "--retry=2", "--retry-delay=10ms", ref)
    assert manifest_gets() == 3


def test_bud_from_replaces_the_first_from_only(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM no-such-image-anywhere AS one\nRUN echo one > /one\n"
                             "FROM scratch\nCOPY --from=one /one /one\n")
    pybuild(root, "bud", "--from", "busybox", "-t", "replaced", str(ctx))
    layers = json.loads(pybuild(root, "inspect", "replaced").stdout)["OCIv1"]["rootfs"]["diff_ids"]
    assert len(layers) == 1  # the second FROM (scratch) is kept: only the copied file
    (tmp_path / "two").mkdir()
    ctx2 = _context(tmp_path / "two", "FROM no-such-image-anywhere\nRUN echo hi > /hi\n")
    pybuild(root, "bud", "--from=busybox", "-t", "replaced2", str(ctx2))
    ctr = pybuild(root, "from", "replaced2").stdout.strip()
    assert pybuild(root, "run", ctr, "--", "cat", "/hi").stdout == "hi\n"


def test_bud_dns_flags_write_the_steps_resolv_conf(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN cat /etc/resolv.conf > /resolv\n")
    pybuild(root, "bud", "--no-cache", "--dns", "10.9.8.7", "--dns", "10.9.8.6", "--dns-search", "example.test",
            "--dns-option", "ndots:2", "-t", "dns", str(ctx))
    ctr = pybuild(root, "from", "dns").stdout.strip()
    lines = pybuild(root, "run", ctr, "--", "cat", "/resolv").stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("nameserver")] == ["nameserver 10.9.8.7", "nameserver 10.9.8.6"]
    assert [ln for ln in lines if ln.startswith(("search", "options"))] == ["search example.test", "options ndots:2"]


def test_commit_unsetenv(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "config", "--env", "SECRETISH=1", "--env", "KEPT=2", ctr)
    pybuild(root, "commit", "--unsetenv", "SECRETISH", ctr, "unset")
    env = json.loads(pybuild(root, "inspect", "unset").stdout)["OCIv1"]["config"]["Env"]
    assert "KEPT=2" in env and not any(e.startswith("SECRETISH=") for e in env)
    pybuild(root, "commit", ctr, "kept")  # the container still has it
    assert "SECRETISH=1" in json.loads(pybuild(root, "inspect", "kept").stdout)["OCIv1"]["config"]["Env"]


def test_from_run_settings_hold_for_later_runs(root: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    ctr = pybuild(root, "from", "--cap-add", "CAP_SYS_ADMIN", "--add-host", "db.internal:10.1.2.3",
                  "-v", f"{shared}:/shared:ro", "--network", "none", "busybox").stdout.strip()
    assert _cap_bounding(root, ctr) & (1 << 21)
    hosts = pybuild(root, "run", ctr, "--", "cat", "/etc/hosts").stdout
    assert any(line.split() == ["10.1.2.3", "db.internal"] for line in hosts.splitlines())
    assert pybuild(root, "run", ctr, "--", "cat", "/shared/note").stdout == "from the host\n"
    assert pybuild(root, "run", ctr, "--", "ls", "/sys/class/net").stdout.split() == ["lo"]
    assert pybuild(root, "run", "--network", "host", ctr, "--", "ls", "/sys/class/net").stdout.split() != ["lo"]
    plain = pybuild(root, "from", "busybox").stdout.strip()
    assert not _cap_bounding(root, plain) & (1 << 21)


def test_from_refuses_bad_run_settings_before_making_a_container(root: Path) -> None:
    for flags, message in ((["--network", "bridge"], "--network bridge: unknown network mode"),
                           (["-v", "/no/such/dir:/x"], "--volume source /no/such/dir does not exist"),
                           (["--isolation", "rootless"], "--isolation rootless:")):
        proc = pybuild(root, "from", *flags, "busybox", check=False)
        assert proc.returncode == 125 and message in proc.stderr, proc.stderr
    assert json.loads(pybuild(root, "containers", "--json").stdout) == []


def test_bud_omit_history(root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM busybox\nRUN echo > /x\nLABEL a=b\n")
    pybuild(root, "bud", "--omit-history", "-t", "nohist", str(ctx))
    pybuild(root, "bud", "-t", "hist", str(ctx))
    assert json.loads(pybuild(root, "inspect", "nohist").stdout)["OCIv1"].get("history") in (None, [])
    assert len(json.loads(pybuild(root, "inspect", "hist").stdout)["OCIv1"]["history"]) >= 2
    ctr = pybuild(root, "from", "nohist").stdout.strip()  # the image still works
    assert pybuild(root, "run", ctr, "--", "cat", "/x").returncode == 0


def test_commit_omit_history(root: Path) -> None:
    ctr = pybuild(root, "from", "busybox").stdout.strip()
    pybuild(root, "commit", "--omit-history", ctr, "nohist-commit")
    assert json.loads(pybuild(root, "inspect", "nohist-commit").stdout)["OCIv1"].get("history") in (None, [])
    pybuild(root, "commit", ctr, "hist-commit")
    assert json.loads(pybuild(root, "inspect", "hist-commit").stdout)["OCIv1"]["history"]


def test_login_verbose_names_the_auth_file(tmp_path: Path, registry: Any) -> None:
    auth = tmp_path / "auth.json"
    out = pybuild(tmp_path / "root", "login", "-v", "--authfile", str(auth), "-u", "u", "-p", "p",
                  registry.host).stdout
    assert out.splitlines() == [f"Used: {auth}", "Login Succeeded!"]
