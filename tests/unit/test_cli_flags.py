"""Flags as buildah users type them (Go's pflag rules), in every verb.

Parsing is checked through click's own ``make_context`` (what the command would receive,
without running it), over the whole command tree, so a verb added later is covered too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from pybuild.builder.sandbox import ROOTLESS_AS_ROOT
from pybuild.cli import cli, command_tree
from pybuild.cli.pflag import Command, Group, is_bool_flag
from pybuild.cli.refused import Refused

COMMANDS = list(command_tree())


def dummy_args(cmd: click.Command) -> list[str]:
    """A value for each required option and a word for each required argument."""
    options = [w for p in cmd.params if isinstance(p, click.Option) and p.required for w in (p.opts[0], "val")]
    return options + ["arg"] * sum(1 for p in cmd.params if isinstance(p, click.Argument) and p.required)


def parse(path: tuple[str, ...], *args: str) -> dict[str, Any]:
    """The parameters the verb at ``path`` would be called with for ``args``."""
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        found = cmd.get_command(click.Context(cmd), name)
        assert found is not None, name
        cmd = found
    ctx = cmd.make_context(" ".join(("pybuild", *path)), list(args), resilient_parsing=False)
    return dict(ctx.params)


def test_every_verb_parses_as_buildah_does() -> None:
    loose = [" ".join(p) or "pybuild" for p, c in COMMANDS if not isinstance(c, (Command, Group))]
    assert not loose, f"commands without pflag parsing: {loose}"


def test_bare_layers_does_not_swallow_the_next_flag() -> None:
    params = parse(("bud",), "--layers", "--no-cache", "-t", "x", ".")
    assert params["layers"] is True and params["no_cache"] is True
    assert params["tags"] == ("x",) and params["context"] == "."


@pytest.mark.parametrize("word, value", [("--layers", True), ("--layers=true", True), ("--layers=false", False),
                                         ("--layers=0", False), ("--layers=T", True)])
def test_layers_spellings(word: str, value: bool) -> None:
    assert parse(("bud",), word, ".")["layers"] is value


def test_layers_defaults_to_on() -> None:
    assert parse(("bud",), ".")["layers"] is True


def test_tls_verify_never_takes_the_image_name() -> None:
    params = parse(("pull",), "--tls-verify", "busybox")
    assert params["tls_verify"] is True and params["source"] == "busybox"
    params = parse(("pull",), "--tls-verify=false", "busybox")
    assert params["tls_verify"] is False and params["source"] == "busybox"
    assert parse(("pull",), "busybox")["tls_verify"] is None  # unset: verify, except for localhost


def test_short_bool_flag_takes_an_attached_value() -> None:
    assert parse(("pull",), "-q=false", "busybox")["quiet"] is False
    assert parse(("pull",), "-q", "busybox")["quiet"] is True


def test_pull_alone_means_true_and_never_takes_the_context() -> None:
    assert parse(("bud",), "--pull", ".")["pull"] == "true"
    assert parse(("bud",), "--pull=never", ".")["pull"] == "never"
    assert parse(("bud",), "--pull", "--no-cache", ".")["no_cache"] is True


BOOL_FLAGS = [(path, p) for path, c in COMMANDS for p in c.params if is_bool_flag(p) and p.expose_value]


@pytest.mark.parametrize("path, param", BOOL_FLAGS,
                         ids=[f"{' '.join(p) or 'pybuild'} {o.opts[-1]}" for p, o in BOOL_FLAGS])
def test_every_bool_flag_takes_pflag_spellings(path: tuple[str, ...], param: click.Option) -> None:
    cmd = dict(COMMANDS)[path]
    rest = dummy_args(cmd)
    for flag in param.opts:
        assert parse(path, f"{flag}=false", *rest)[str(param.name)] is False, flag
        assert parse(path, f"{flag}=true", *rest)[str(param.name)] is True, flag
        bare = parse(path, flag, *rest)
        assert bare[str(param.name)] is True, flag
        args = [p for p in cmd.params if isinstance(p, click.Argument) and p.required]
        if args:  # the word after a bare flag stays an argument
            assert bare[str(args[0].name)] in ("arg", ("arg",)), flag


def test_a_bad_bool_value_is_one_line_naming_the_flag() -> None:
    proc = subprocess.run([sys.executable, "-m", "pybuild", "bud", "--layers=maybe", "."],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert "--layers" in lines[-1] and "maybe" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bud_with_bare_layers_reaches_the_build(tmp_path: Path) -> None:
    """End to end: the words after a bare --layers are read as the flags and context they are."""
    missing = tmp_path / "no-such-context"
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(tmp_path / "root"), "bud", "--layers",
                           "--no-cache", "-t", "x", str(missing)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125
    assert proc.stderr.strip() == f"Error: build context {missing} is not a directory"


# --- no flag is accepted and ignored ------------------------------------------------------------


def _reads(func: Any) -> set[str]:
    """The names a command's function reads (its parameters that it uses)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(func))))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


OPTIONS = [(path, p) for path, c in COMMANDS for p in c.params
           if isinstance(p, click.Option) and p.expose_value and c.callback is not None]


@pytest.mark.parametrize("path, param", OPTIONS, ids=[f"{' '.join(p) or 'pybuild'} {o.opts[-1]}" for p, o in OPTIONS])
def test_every_option_is_read_by_its_command(path: tuple[str, ...], param: click.Option) -> None:
    """A flag its command never looks at is accepted and ignored: each one is read (and then
    has its effect, or is refused with one line: see the tests below)."""
    cmd = dict(COMMANDS)[path]
    assert param.name in _reads(cmd.callback), f"{' '.join(path)} {param.opts[-1]} is accepted and never read"


# A value each Refused option refuses (its bool flags refuse the opposite of their default).
REFUSED_VALUES = {"--isolation": "rootless", "--userns": "container", "--runroot": "/run/elsewhere"}
REFUSED = [(path, p) for path, c in COMMANDS for p in c.params if isinstance(p, Refused)]


def _refused_word(param: Refused) -> str:
    flag = param.opts[-1]
    if flag == "--isolation" and os.geteuid() != 0:
        pytest.skip("--isolation rootless is taken from an ordinary user (runc in its user namespace)")
    if is_bool_flag(param):
        return f"{flag}={'false' if param.default else 'true'}"
    assert flag in REFUSED_VALUES, f"give {flag} a refused value in REFUSED_VALUES"
    return f"{flag}={REFUSED_VALUES[flag]}"


def test_the_known_refusals_are_there() -> None:
    found = {(" ".join(path), p.opts[-1]) for path, p in REFUSED}
    assert {("bud", "--isolation"), ("run", "--isolation"), ("bud", "--userns"), ("bud", "--rm"),
            ("run", "--terminal"), ("", "--runroot"), ("pull", "--all-tags")} <= found


@pytest.mark.parametrize("path, param", REFUSED, ids=[f"{' '.join(p) or 'pybuild'} {o.opts[-1]}" for p, o in REFUSED])
def test_every_refused_value_is_one_line_before_anything_runs(tmp_path: Path, path: tuple[str, ...],
                                                              param: Refused) -> None:
    word = _refused_word(param)
    cmd = dict(COMMANDS)[path]
    argv = [word, *path] if not path else [*path, word, *dummy_args(cmd)]
    root = tmp_path / "root"
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(root), *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {param.opts[-1]}"), proc.stderr
    assert param.reason in lines[0]
    assert not root.exists()  # refused before the store was even opened


@pytest.mark.skipif(os.geteuid() != 0, reason="as an ordinary user rootless isolation is taken (runc in its "
                    "user namespace); only real root refuses it")
def test_rootless_isolation_is_refused_not_turned_into_chroot() -> None:
    proc = subprocess.run([sys.executable, "-m", "pybuild", "bud", "--isolation", "rootless", "/nonexistent"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125
    assert proc.stderr.strip() == f"Error: --isolation rootless: {ROOTLESS_AS_ROOT}"


@pytest.mark.parametrize("argv, message", [
    (["bud", "--runtime", "/nonexistent/crun", "/nonexistent"], "--runtime /nonexistent/crun: no such executable"),
    (["bud", "--isolation", "chroot", "--runtime", "runc", "/nonexistent"],
     "--runtime runc: a runtime runs steps only with --isolation oci"),
    (["run", "--runtime", "no-such-runtime-anywhere", "ctr", "--", "true"],
     "--runtime no-such-runtime-anywhere: no such executable"),
])
def test_a_runtime_that_cannot_be_used_is_refused(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pybuild", "--root", str(tmp_path / "root"), *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 125
    assert proc.stderr.strip() == f"Error: {message}"


def test_copy_has_no_checksum_only_add_does() -> None:
    assert "checksum" in parse(("add",), "--checksum", "sha256:" + "0" * 64, "ctr", "src", "dst")
    with pytest.raises(click.NoSuchOption):
        parse(("copy",), "--checksum", "sha256:" + "0" * 64, "ctr", "src", "dst")


# --- spellings buildah has that pybuild took over -----------------------------------------------


def _pybuild(*args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    where = ["--root", str(root)] if root else []
    return subprocess.run([sys.executable, "-m", "pybuild", *where, *args], capture_output=True, text=True,
                          timeout=60)


def test_dash_v_is_version() -> None:
    from pybuild import __version__

    assert _pybuild("-v").stdout.strip() == _pybuild("--version").stdout.strip() == f"pybuild, version {__version__}"


def test_version_json() -> None:
    import json

    from pybuild import __version__

    out = json.loads(_pybuild("version", "--json").stdout)
    assert out["version"] == __version__ and out["osArch"].startswith("linux/")


def test_images_noheading(tmp_path: Path) -> None:
    assert _pybuild("images", root=tmp_path / "root").stdout.startswith("REPOSITORY")
    assert _pybuild("images", "-n", root=tmp_path / "root").stdout == ""


@pytest.mark.parametrize("args, message", [
    (["bud", "--arch", "nosucharch"], "--platform linux/nosucharch: unknown architecture 'nosucharch'"),
    (["bud", "--os", "windows"], "--platform windows/amd64: only linux images can be built"),
    (["bud", "--arch", "arm64", "--platform", "linux/arm64"], "give --platform or --os/--arch/--variant, not both"),
])
def test_bud_arch_and_os_are_platform(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _pybuild(*args, str(tmp_path), root=tmp_path / "root")
    assert proc.returncode == 125 and message in proc.stderr.strip().splitlines()[0], proc.stderr


def test_platform_of_fills_in_the_host() -> None:
    from pybuild import platform_of
    from pybuild.oci.platform_host import host_platform

    arch = host_platform().architecture
    assert platform_of(None, None, "arm64", "v8") == "linux/arm64/v8"
    assert platform_of(None, "linux", None, None) == f"linux/{arch}"
    assert platform_of("linux/s390x", None, None, None) == "linux/s390x"


# --- no option value is accepted and ignored either ---------------------------------------------


@pytest.mark.parametrize("value, message", [
    ("/tmp:/v:U", "--volume /tmp:/v:U: option 'U' is not supported"),
    ("/tmp:/v:ro,O", "option 'O' is not supported"),
    ("/tmp:/v:ro:extra", "invalid --volume"),
])
def test_volume_options_pybuild_lacks_are_refused(value: str, message: str) -> None:
    from pybuild.builder.workflow import parse_volume
    from pybuild.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_volume(value)


def test_volume_ro_and_rw() -> None:
    from pybuild.builder.workflow import parse_volume

    assert parse_volume("/tmp:/v:ro").readonly is True
    assert parse_volume("/tmp:/v:rw").readonly is False and parse_volume("/tmp:/v").readonly is False


@pytest.mark.parametrize("value, key", [("type=bind,src=/tmp,dst=/x,relabel=shared", "relabel"),
                                        ("type=tmpfs,dst=/x,size=1m,noexec=true", "noexec"),
                                        ("type=bind,src=/tmp,dst=/x,bind-propagation=rshared", "bind-propagation")])
def test_mount_keys_pybuild_lacks_are_refused(value: str, key: str) -> None:
    from pybuild.builder.workflow import parse_mount
    from pybuild.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{key} is not supported"):
        parse_mount(value)


def test_bud_refuses_a_bad_volume_before_building(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    proc = _pybuild("bud", "-v", "/tmp:/v:U", str(tmp_path), root=tmp_path / "root")
    assert proc.returncode == 125
    assert proc.stderr.strip() == "Error: --volume /tmp:/v:U: option 'U' is not supported (Z, ro, rw, z)"


# --- docs/buildah-compat.md says what the command line does -------------------------------------

COMPAT_DOC = Path(__file__).resolve().parents[2] / "docs" / "buildah-compat.md"


def _compat_rows() -> dict[tuple[str, ...], list[tuple[str, str]]]:
    """verb path -> [(long flag, status word)] from the doc's tables."""
    import re

    rows: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    path: tuple[str, ...] | None = None
    for line in COMPAT_DOC.read_text().splitlines():
        if line.startswith("## "):
            m = re.match(r"## `([^`]+)`", line)
            path = tuple(m.group(1).split()) if m else () if line.startswith("## global flags") else None
            if path is not None:
                rows[path] = []
            continue
        m = re.match(r"\| `(?:-\w, )?(--[\w-]+)` \| .* \| (\w+)", line)
        if m and path is not None:
            rows[path].append((m.group(1), m.group(2)))
    return rows


def _flags_of(path: tuple[str, ...]) -> dict[str, click.Option]:
    return {o: p for p in dict(COMMANDS)[path].params if isinstance(p, click.Option) for o in p.opts}


def test_compat_doc_matches_the_command_line() -> None:
    import re

    counts = {"same": 0, "differs": 0, "refused": 0, "missing": 0}
    for path, rows in _compat_rows().items():
        flags = _flags_of(path)
        for flag, status in rows:
            counts[status] += 1
            where = f"{' '.join(path) or 'global'} {flag}"
            if status == "missing":
                assert flag not in flags, f"{where}: the doc says missing, pybuild has it"
            else:
                assert flag in flags, f"{where}: the doc says {status}, pybuild lacks it"
            if status == "refused":
                assert isinstance(flags[flag], Refused), where
    text = COMPAT_DOC.read_text()
    m = re.search(r"\*\*(\d+) buildah flags: (\d+) same, (\d+) differing, (\d+) refused[^,]*, (\d+) missing", text)
    assert m, "the counts line is missing"
    assert [int(g) for g in m.groups()] == [sum(counts.values()), counts["same"], counts["differs"],
                                            counts["refused"], counts["missing"]]


def test_compat_doc_lists_every_buildah_flag() -> None:
    """Against the buildah installed (the reference tool): each flag of its help has a row."""
    import re

    from tests.conftest import need_tool

    buildah = need_tool("buildah")
    for path, rows in _compat_rows().items():
        argv = [buildah, *(path if path != () else ()), "--help"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
        listed = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", out.split("Flags:", 1)[-1], re.M)) - {"--help"}
        assert listed == {flag for flag, _ in rows}, f"buildah {' '.join(path)}: the doc's rows differ from its help"


# --- every option has a test that uses it ---------------------------------------------------------

TESTS = Path(__file__).resolve().parents[1]

# Options no test uses yet (each read by its command, see above): a new option must come with a
# test, or be listed here with the reason it has none. An entry that gains a test may be dropped.
UNTESTED: set[str] = {
    # registry flags: one declaration, one translation (images.registry_flags), shown per verb
    # in tests/integration/test_cli_flag_effects.py, not yet through pin
    "pin --creds", "pin --cert-dir",
}


def _test_uses() -> list[tuple[str, set[str], set[str]]]:
    """(test id, the words of its string constants, the words of its file's) for each test function."""
    import ast

    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text())

        def words(node: ast.AST) -> set[str]:
            out: set[str] = set()
            for n in ast.walk(node):
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    out.add(n.value)
                    out.update(n.value.split())
            return out

        in_file = words(tree) | {path.stem.removeprefix("test_").replace("_", " ")}
        in_file |= set(" ".join(in_file).split())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append((f"{path.relative_to(TESTS.parent)}::{node.name}", words(node), in_file))
    return found


def test_every_option_has_a_test_that_uses_it() -> None:
    """A lint, not a proof: some test names the flag, in a file that names the verb (the effect
    tests of each are where the flag's help says; refusals are tested above)."""
    uses = _test_uses()
    lacking = []
    for path, param in OPTIONS:
        if isinstance(param, Refused) and not param.expose_value:
            continue  # all it does is refuse: test_every_refused_value_is_one_line_before_anything_runs
        names = param.opts + param.secondary_opts
        key = f"{' '.join(path) or 'pybuild'} {param.opts[-1]}"
        used = any(any(w == n or w.startswith(n + "=") for w in words for n in names)
                   and (not path or path[-1] in in_file) for _, words, in_file in uses)
        if not used and key not in UNTESTED:
            lacking.append(key)
    assert not lacking, f"options no test uses: {lacking}"


# --- what some options do, where no other test shows it ------------------------------------------


def test_log_level_debug_shows_the_traceback_wherever_it_stands(tmp_path: Path) -> None:
    for argv in (["--log-level", "debug", "--root", str(tmp_path)], ["--root", str(tmp_path), "--log-level", "debug"]):
        proc = _pybuild(*argv, "inspect", "no-such-image")
        assert proc.returncode == 125 and "Traceback" in proc.stderr, argv
    proc = _pybuild("--root", str(tmp_path), "inspect", "no-such-image")
    assert proc.stderr.strip().splitlines() == ["Error: no image or container named no-such-image"]


def test_logout_all_empties_the_authfile(tmp_path: Path) -> None:
    import json

    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"a.example": {"auth": "dTpw"}, "b.example": {"auth": "dTpw"}}}))
    proc = _pybuild("logout", "--authfile", str(auth), "--all")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(auth.read_text()).get("auths", {}) == {}


def test_from_pull_never_does_not_ask_the_registry(tmp_path: Path) -> None:
    absent = "127.0.0.1:9/none/absent"  # the discard port: nothing listens
    asked = _pybuild("from", absent, root=tmp_path)
    assert "cannot reach registry" in asked.stderr
    for flags in (["--pull-never"], ["--pull=never"]):
        never = _pybuild("from", *flags, absent, root=tmp_path)
        assert never.returncode == 125
        assert never.stderr.strip() == f"Error: image {absent} is not in the local store (--pull=never)"


def test_image_inspect_platform_choices(tmp_path: Path) -> None:
    import json

    from transport_helpers import make_multiarch, new_layout

    make_multiarch(new_layout(tmp_path / "layout"), "multi")
    ref = f"oci:{tmp_path / 'layout'}:multi"

    def arch(*flags: str) -> str:
        proc = _pybuild("image", "inspect", *flags, ref)
        assert proc.returncode == 0, proc.stderr
        return str(json.loads(proc.stdout)["Architecture"])

    assert arch("--override-arch", "arm64") == "arm64"
    assert arch("--override-os", "linux", "--override-arch", "amd64") == "amd64"
    assert "RepoTags" in json.loads(_pybuild("image", "inspect", ref).stdout)
    assert "RepoTags" not in json.loads(_pybuild("image", "inspect", "--no-tags", ref).stdout)


def test_graph_file_and_build_context(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM busybox\n")
    (tmp_path / "Other").write_text("FROM base\nRUN true\n")
    plain = _pybuild("graph", "-f", str(tmp_path / "Other"), str(tmp_path))
    named = _pybuild("graph", "-f", str(tmp_path / "Other"), "--build-context", "base=docker-image://alpine:3",
                     str(tmp_path))
    assert plain.returncode == named.returncode == 0, plain.stderr + named.stderr
    assert "FROM image base" in plain.stdout and "busybox" not in plain.stdout
    assert "FROM context base" in named.stdout


def test_reap_asks_the_runtime_that_made_the_step(tmp_path: Path) -> None:
    """A build killed mid-RUN under --runtime X: its step is killed and deleted through X."""
    from pybuild.builder.sandbox.oci import RUNTIME_FILE, reap

    log = tmp_path / "calls"
    runtime = tmp_path / "my-runtime"
    runtime.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    runtime.chmod(0o755)
    step = tmp_path / "scratch" / "pybuild-oci-x"
    (step / "state" / "pybuild-0123").mkdir(parents=True)
    (step / RUNTIME_FILE).write_text(str(runtime))
    reap(str(tmp_path / "scratch"))
    state = step / "state"
    assert log.read_text().splitlines() == [f"--root {state} kill pybuild-0123 KILL",
                                            f"--root {state} delete --force pybuild-0123"]


@pytest.mark.parametrize("args, message", [
    (["bud", "--no-such-flag", "."], "Error: No such option '--no-such-flag'"),
    (["bud", "--jobs", "many", "."], "Error: Invalid value for '--jobs': 'many' is not a valid integer."),
    (["rename", "only-one"], "Error: Missing argument 'NEW_NAME'."),
    (["bud", "--squash=maybe", "."], "Error: invalid argument 'maybe' for --squash"),
])
def test_a_flag_mistake_is_one_line_with_buildahs_status(args: list[str], message: str) -> None:
    proc = _pybuild(*args)
    assert proc.returncode == 125
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert lines[0].endswith(f"(see 'pybuild {args[0]} --help')")


def test_retry_flags_become_the_retry_policy() -> None:
    from pybuild.cli.images import _registry_options
    from pybuild.oci.registry.options import RetryPolicy, from_keywords

    for path in (("pull",), ("push",), ("bud",), ("from",)):
        cmd = dict(COMMANDS)[path]
        with cmd.make_context("pybuild", ["--retry", "5", "--retry-delay", "250ms", *dummy_args(cmd)]):
            retry = from_keywords(None, _registry_options(None, None, None, None)).retry  # as the library reads them
        assert (retry.attempts, retry.base_delay, retry.max_delay) == (6, 0.25, 0.25), path
        with cmd.make_context("pybuild", dummy_args(cmd)):
            assert "retry" not in _registry_options(None, None, None, None)
    assert from_keywords(None, {}).retry == RetryPolicy.configured()
    assert from_keywords(None, {"retry_delay": "2s"}).retry.base_delay == 2.0


def test_resource_flags_become_the_steps_resources() -> None:
    from pybuild.builder.sandbox.resources import parse_resources
    from pybuild.cli.resources import values

    def given() -> Any:  # what the library makes of the flags (bud: build_request, from/run: workflow)
        return parse_resources(**values())

    flags = ["-m", "64m", "--memory-swap", "-1", "-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
             "--cpuset-cpus", "0", "--cpuset-mems", "0", "--device", "/dev/null:/dev/xnull", "--shm-size", "1m",
             "--ulimit", "nofile=10:20", "--cgroupns", "private"]
    for path in (("bud",), ("from",)):
        cmd = dict(COMMANDS)[path]
        with cmd.make_context("pybuild", [*flags, *dummy_args(cmd)]):
            r = given()
        assert (r.memory, r.memory_swap, r.cpu_shares, r.cpu_period, r.cpu_quota, r.cpuset_cpus, r.cpuset_mems,
                r.shm_size, r.cgroupns) == (64 << 20, -1, 512, 100000, 50000, "0", "0", 1 << 20, "private"), path
        assert [(u.name, u.soft, u.hard) for u in r.ulimits] == [("nofile", 10, 20)]
        assert [(d.source, d.target) for d in r.devices] == [("/dev/null", "/dev/xnull")]
        with cmd.make_context("pybuild", dummy_args(cmd)):
            assert given().cache_key() is None
    run = dict(COMMANDS)[("run",)]
    with run.make_context("pybuild", ["--cgroupns", "private", *dummy_args(run)]):
        assert given().cgroupns == "private"


def test_a_bad_retry_delay_is_one_line() -> None:
    proc = _pybuild("pull", "--retry-delay", "soon", "busybox")
    assert proc.returncode == 125
    assert proc.stderr.strip() == 'Error: --retry-delay: \'soon\' is not a duration (e.g. "30s", "500ms", "2m")'


# Options not passed to their command's function, and why that is not "accepted and ignored".
NOT_PASSED = {
    "--retry": "read from the context by images._registry_options (test_retry_flags_become_the_retry_policy)",
    "--retry-delay": "read from the context by images._registry_options (test_retry_flags_become_the_retry_policy)",
    "images --all": "every image is listed either way: pybuild keeps no intermediate images",
    **{flag: "read from the context by cli.resources.given/values (test_resource_flags_become_the_steps_resources)"
       for flag in ("--cgroupns", "--cgroup-parent", "--cpu-period", "--cpu-quota", "--cpu-shares", "--cpuset-cpus", "--cpuset-mems",
                    "--device", "--memory", "--memory-swap", "--shm-size", "--ulimit")},
    "--help": "click's", "--version": "click's",
}


def test_options_not_passed_to_their_command_are_accounted_for() -> None:
    loose = []
    for path, cmd in COMMANDS:
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.expose_value and not isinstance(p, Refused):
                flag = p.opts[-1]
                if flag not in NOT_PASSED and f"{' '.join(path)} {flag}" not in NOT_PASSED:
                    loose.append(f"{' '.join(path) or 'pybuild'} {flag}")
    assert not loose, f"options that reach no code: {loose}"


def test_dns_wants_an_address(tmp_path: Path) -> None:
    proc = _pybuild("bud", "--dns", "dns.example", str(tmp_path), root=tmp_path / "root")
    assert proc.returncode == 125
    assert proc.stderr.strip() == "Error: --dns dns.example: an IP address is wanted"


def test_manifest_exists(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert _pybuild("manifest", "exists", "mylist", root=root).returncode == 1
    assert _pybuild("manifest", "create", "mylist", root=root).returncode == 0
    proc = _pybuild("manifest", "exists", "mylist", root=root)
    assert proc.returncode == 0 and proc.stdout == proc.stderr == ""
