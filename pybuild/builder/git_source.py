"""Git sources as BuildKit spells them: ``URL#REF[:SUBDIR]`` for ADD and for a build context.

The ref is resolved with ``git ls-remote`` to a commit id before anything is fetched: that id
(with the subdirectory, the mtime rule and whether .git is kept) is the cache key, so an
unchanged branch hits the cache without a clone and a moved one misses. The checkout is a
depth-1 fetch of exactly that commit, submodules too, into scratch space; .git is dropped
unless kept. mtimes are the checkout time, as BuildKit leaves them, or the commit's when the
build has a SOURCE_DATE_EPOCH (BuildKit's ``git.mtime=commit``). Only the git, http(s) and ssh
transports are allowed (no file:// or ext::, for submodules neither); git reads no system or
user configuration and ssh no user ssh_config, as in BuildKit.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pybuild.builder.proxy_args import PROXY_ARGS
from pybuild.errors import ContextError, UnsupportedError, UserError
from pybuild.lazyre import lazy

if TYPE_CHECKING:
    from pybuild.builder.store import Store

_COMMIT = lazy(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")
_SCP = lazy(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.\-\[\]:]+:(?!//)")
_TIMEOUT = 600  # seconds for one git command (a large repository over a slow link)


@dataclass(frozen=True)
class GitSource:
    """``remote`` is what git is given; ``ref`` None means the remote's HEAD."""

    remote: str
    ref: str | None
    subdir: str

    @property
    def is_ssh(self) -> bool:
        return self.remote.startswith("ssh://") or bool(_SCP.match(self.remote))


def is_git_url(src: str) -> bool:
    """A source or context that git fetches (``git@…``, ``git://``, ``ssh://``, ``….git``)."""
    from pybuild.builder.containerfile.instructions import is_git_source

    return is_git_source(src) or src.lower().startswith("ssh://")


def parse(src: str) -> GitSource:
    """``URL#REF:SUBDIR`` -> GitSource (BuildKit's fragment form; an empty REF is HEAD)."""
    url, _, fragment = src.partition("#")
    if "?" in url and re.search(r"[?&](ref|tag|branch|subdir|checksum|keep-git-dir)=", url):
        raise UnsupportedError(f"{src}: the ?ref=/?subdir= query form is not supported; use URL#REF:SUBDIR")
    ref, _, subdir = fragment.partition(":")
    if url.lower().startswith("github.com/"):
        url = "https://" + url  # BuildKit's bare github.com/OWNER/REPO
    if url.lower().startswith(("file:", "ext::")) or "::" in url.split("/", 1)[0]:
        raise UserError(f"{src}: only git://, http(s)://, ssh:// and user@host:path remotes are allowed")
    if subdir and any(p == ".." for p in subdir.split("/")):
        raise UserError(f"{src}: the subdirectory {subdir!r} climbs out of the repository")
    return GitSource(url, ref or None, subdir.strip("/"))


def _env(ssh_socket: str | None) -> dict[str, str]:
    """git as BuildKit runs it: no prompts, no system or user config, only network
    transports; ssh through the build's agent, host keys not pinned (BuildKit's rule when no
    known_hosts is given)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": "/dev/null",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ALLOW_PROTOCOL": "git:http:https:ssh",
           "GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no "
                              "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"}
    for proxy in PROXY_ARGS:
        if proxy in os.environ:
            env[proxy] = os.environ[proxy]
    if ssh_socket:
        env["SSH_AUTH_SOCK"] = ssh_socket
    return env


def _git(args: list[str], src: GitSource, ssh_socket: str | None, cwd: str | None = None) -> str:
    import subprocess

    try:
        proc = subprocess.run(["git", *args], cwd=cwd, env=_env(ssh_socket), capture_output=True,
                              text=True, timeout=_TIMEOUT, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UserError("git sources need git (apt-get install git)") from None
    except subprocess.TimeoutExpired:
        raise ContextError(f"git {args[0]} {src.remote}: no answer in {_TIMEOUT}s") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        hint = " (an ssh remote needs --ssh default or --ssh default=KEYFILE)" if src.is_ssh and not ssh_socket else ""
        raise ContextError(f"git {args[0]} {src.remote}: {detail}{hint}")
    return proc.stdout


def resolve(src: GitSource, ssh_socket: str | None = None) -> tuple[str, str]:
    """(commit id, the ref name to fetch) that ``src.ref`` names on the remote now."""
    if src.ref and _COMMIT.match(src.ref):
        return src.ref, src.ref
    want = src.ref or "HEAD"
    refs: dict[str, str] = {}
    for line in _git(["ls-remote", src.remote], src, ssh_socket).splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for name in (want, f"refs/heads/{want}", f"refs/tags/{want}"):
        if name in refs:
            return refs.get(name + "^{}", refs[name]), name  # an annotated tag: its commit
    raise ContextError(f"git {src.remote}: no branch, tag or ref named {want!r}")


def redacted(remote: str) -> str:
    """``remote`` with any password in it replaced (as BuildKit's RedactCredentials)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(remote)
    if not parts.password:
        return remote
    netloc = f"{parts.username}:xxxxx@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def checkout(store: Store, src: GitSource, commit: str, refname: str, *, keep_git_dir: bool = False,
             commit_mtimes: bool = False, ssh_socket: str | None = None) -> Iterator[str]:
    """The repository at ``commit`` (submodules too) in scratch space; yields its SUBDIR.

    As BuildKit: files keep their checkout time unless ``commit_mtimes`` (BuildKit's
    ``git.mtime=commit``, its default when SOURCE_DATE_EPOCH is set) makes every mtime the
    commit's; a kept .git has ``origin`` (password redacted), no FETCH_HEAD and no reflog."""
    from pybuild.builder.paths import resolve_in_root
    from pybuild.builder.store import remove_tree

    scratch = store.scratch_dir("git")
    try:
        repo = str(scratch / "repo")
        _git(["init", "-q", "--template=", repo], src, ssh_socket)
        _git(["remote", "add", "origin", src.remote], src, ssh_socket, cwd=repo)  # relative submodule URLs
        _git(["fetch", "-q", "--depth=1", "--no-tags", "origin", refname], src, ssh_socket, cwd=repo)
        got = _git(["rev-parse", "FETCH_HEAD^{commit}"], src, ssh_socket, cwd=repo).strip()
        if got != commit:
            raise ContextError(f"git {src.remote}: {refname} moved during the build "
                               f"({commit[:12]} -> {got[:12]}); build again")
        _git(["-c", "advice.detachedHead=false", "checkout", "-q", commit], src, ssh_socket, cwd=repo)
        _git(["submodule", "update", "-q", "--init", "--recursive", "--depth=1"], src, ssh_socket, cwd=repo)
        when = int(_git(["log", "-1", "--format=%ct", commit], src, ssh_socket, cwd=repo).strip())
        if keep_git_dir:
            _git(["remote", "set-url", "origin", redacted(src.remote)], src, ssh_socket, cwd=repo)
            _git(["reflog", "expire", "--all", "--expire=now"], src, ssh_socket, cwd=repo)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(repo, ".git", "FETCH_HEAD"))
        else:
            _drop_git_dirs(repo)
        if commit_mtimes:
            _set_mtimes(repo, when)
        path = resolve_in_root(repo, "/" + src.subdir) if src.subdir else repo
        if not os.path.isdir(path):
            raise ContextError(f"git {src.remote}: {src.subdir!r} is not a directory at {commit[:12]}")
        yield path
    finally:
        remove_tree(scratch)


def _drop_git_dirs(repo: str) -> None:
    """.git of the repository and the ``.git`` files of its submodules' checkouts."""
    from pybuild.builder.store import remove_tree

    remove_tree(Path(repo) / ".git")
    for dirpath, dirnames, filenames in os.walk(repo):
        if ".git" in filenames:
            os.unlink(os.path.join(dirpath, ".git"))
        if ".git" in dirnames:
            remove_tree(Path(dirpath) / ".git")
            dirnames.remove(".git")


def _set_mtimes(root: str, when: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))
