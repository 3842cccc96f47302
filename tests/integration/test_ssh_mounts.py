"""RUN --mount=type=ssh with bud --ssh, against a real ssh-agent and a test-started sshd on
127.0.0.1: `git clone` over ssh inside RUN (the host's git and ssh clients in a test base),
the caller's agent forwarded as a socket or an agent of pybuild's own for a key file; no key,
socket or agent path in a layer, the history or the cache key."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import build_busybox, pyb
from tests.git_fixtures import Repo, make_repo
from tests.ssh_fixtures import Sshd, ssh_agent, sshd, tools_context

pytestmark = [pytest.mark.root, pytest.mark.integration]

SSH = "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sshd, Repo]]:
    base = tmp_path_factory.mktemp("ssh")
    repo = make_repo(base)
    with sshd(base / "sshd") as s:
        yield s, repo


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("ssh-store")
    root = build_busybox(work)[0]
    pyb(root, "bud", "-q", "-t", "sshtools", str(tools_context(work)))
    return root


def _url(s: Sshd, repo: Repo) -> str:
    return f"ssh://root@127.0.0.1:{s.port}{repo.bare}"


def _hits(out: str) -> int:
    return len(re.findall(r"^--> Using cache ", out, re.M))


def _no_agent_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}


def test_git_clone_over_ssh_in_run_through_the_callers_agent(root: Path, server: tuple[Sshd, Repo],
                                                           tmp_path: Path, isolation: str) -> None:
    s, repo = server
    key_bytes = s.key.read_bytes()
    (tmp_path / "agent").mkdir()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with ssh_agent(tmp_path / "agent", s.key) as sock:
        (ctx / "Containerfile").write_text(
            "FROM sshtools\n"
            f"RUN --mount=type=ssh GIT_SSH_COMMAND='{SSH}' git clone -q {_url(s, repo)} /cloned"
            " && ssh-add -l > /agent-keys && echo sock=$SSH_AUTH_SOCK > /sock.txt && ls /proc/self/fd > /fds\n")
        out = tmp_path / "out"
        proc = pyb(root, "bud", "--no-cache", "--isolation", isolation, "--network", "host", "--ssh", "default",
                   "-t", "cloned",
                   "-o", f"type=local,dest={out}", str(ctx), env={"SSH_AUTH_SOCK": sock})
    assert (out / "cloned" / "hello.txt").read_text() == "two\n"  # cloned over ssh with the agent's key
    assert "pybuild-test" in (out / "agent-keys").read_text()  # the agent answered inside RUN
    assert (out / "sock.txt").read_text() == "sock=/run/buildkit/ssh_agent.0\n"  # BuildKit's default
    assert (out / "fds").read_text().split() == ["0", "1", "2", "3"]  # no relay or agent descriptor leaks in
    assert not (out / "run" / "buildkit").exists()  # not even the mount point is left
    for dirpath, _dirs, files in os.walk(out):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                assert key_bytes not in open(p, "rb").read(), p
    inspect = pyb(root, "inspect", "cloned").stdout
    assert sock not in inspect and str(tmp_path / "agent") not in inspect  # no agent path in config or history
    cache_text = json.dumps([p.read_text(errors="replace") for p in (root / "cache").rglob("*") if p.is_file()])
    assert str(tmp_path / "agent") not in cache_text  # the key names the id, not the agent
    assert "Error" not in proc.stderr


def test_a_key_file_gets_an_agent_of_pybuilds_own(root: Path, server: tuple[Sshd, Repo], tmp_path: Path) -> None:
    s, repo = server
    (tmp_path / "Containerfile").write_text(
        "FROM sshtools\n"
        "RUN --mount=type=ssh,id=deploy,target=/agent.sock,uid=1000,mode=0660 stat -c '%u %a' /agent.sock"
        " > /mode.txt\n"
        f"RUN --mount=type=ssh,id=deploy,required=true GIT_SSH_COMMAND='{SSH}' git clone -q {_url(s, repo)}"
        " /cloned\n")
    out = tmp_path / "out"
    proc = pyb(root, "bud", "--network", "host", "--ssh", f"deploy={s.key}", "-o", f"type=local,dest={out}",
               str(tmp_path), env=_no_agent_env())
    assert (out / "mode.txt").read_text() == "1000 660\n"  # the relay socket as the mount asked
    assert (out / "cloned" / "hello.txt").read_text() == "two\n"
    left = subprocess.run(["pgrep", "-f", f"ssh-agent -a {root}"], capture_output=True, text=True)
    assert left.stdout == ""  # our agent lived for the build only
    # the key is not in the cache key: another key file for the same id finds both steps cached
    other = tmp_path / "other_key"
    other.write_bytes(s.key.read_bytes())
    os.chmod(other, 0o600)
    again = pyb(root, "bud", "--network", "host", "--ssh", f"deploy={other}", str(tmp_path), env=_no_agent_env())
    assert _hits(again.stdout) == 2, again.stdout
    assert proc.returncode == 0


def test_add_of_an_ssh_git_url_uses_the_default_agent(root: Path, server: tuple[Sshd, Repo],
                                                      tmp_path: Path) -> None:
    s, repo = server
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nADD {_url(s, repo)}#v1 /src\n")
    out = tmp_path / "out"
    pyb(root, "bud", "--ssh", f"default={s.key}", "-o", f"type=local,dest={out}", str(tmp_path),
        env=_no_agent_env())
    assert (out / "src" / "hello.txt").read_text() == "one\n"
    proc = pyb(root, "bud", "--no-cache", str(tmp_path), check=False, env=_no_agent_env())
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "--ssh default" in err[0], proc.stderr


def test_ssh_mount_without_an_agent(root: Path, tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN --mount=type=ssh test ! -e /run/buildkit/ssh_agent.0"
                                            " && test -z \"$SSH_AUTH_SOCK\"\n")
    pyb(root, "bud", str(tmp_path), env=_no_agent_env())  # not required: no mount at all
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN --mount=type=ssh,required=true true\n")
    proc = pyb(root, "bud", str(tmp_path), check=False, env=_no_agent_env())
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "Containerfile:2" in err[0] and "--ssh default" in err[0]
    for bad, message in ((["--ssh", "default"], "$SSH_AUTH_SOCK is not set"),
                         (["--ssh", "k=/nonexistent/key"], "does not exist"), (["--ssh", "k="], "invalid --ssh")):
        proc = pyb(root, "bud", *bad, str(tmp_path), check=False, env=_no_agent_env())
        err = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(err) == 1 and message in err[0], (bad, proc.stderr)


def test_a_git_context_over_ssh_uses_the_callers_agent(root: Path, server: tuple[Sshd, Repo], tmp_path: Path) -> None:
    s, repo = server
    cf = tmp_path / "Containerfile"
    cf.write_text("FROM busybox\nCOPY hello.txt /hello.txt\n")
    (tmp_path / "agent").mkdir()
    out = tmp_path / "out"
    with ssh_agent(tmp_path / "agent", s.key) as sock:
        pyb(root, "bud", "-q", "-f", str(cf), "-o", f"type=local,dest={out}", f"{_url(s, repo)}#v1",
            env={"SSH_AUTH_SOCK": sock})
    assert (out / "hello.txt").read_text() == "one\n"
    proc = pyb(root, "bud", "-f", str(cf), f"{_url(s, repo)}#v1", check=False, env=_no_agent_env())
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_killed_build_takes_its_agent_along(root: Path, server: tuple[Sshd, Repo], tmp_path: Path) -> None:
    import signal
    import time

    from tests.cli_helpers import PYBUILD

    s, _repo = server
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN --mount=type=ssh,id=k sleep 60\n")
    proc = subprocess.Popen([*PYBUILD, "--root", str(root), "bud", "--ssh", f"k={s.key}", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_no_agent_env())
    pattern = f"ssh-agent -a {root}/tmp/"

    def agents() -> str:
        return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout

    try:
        deadline = time.monotonic() + 60
        while not agents():
            assert time.monotonic() < deadline and proc.poll() is None, "the build's agent never started"
            time.sleep(0.1)
        time.sleep(1)  # into the RUN step
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while agents() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agents() == ""  # the agent holding the key died with pybuild
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pyb(root, "images")  # the next command cleans what the killed build left
