"""A sandbox that isolates nothing: it interprets a tiny shell against the rootfs directory.

The engine (executor, steps, cache keys, RUN's mounts and secrets) is most of pybuild
and needs no root; only the sandbox does. :class:`FakeSandbox` stands in for it, as
httpx's MockTransport stands in for a server, so the engine runs in unit tests as any
user over the vfs driver. It understands ``sh -c`` scripts (and exec-form argv) made of
``true``, ``false``, ``exit N``, ``echo ... [>|>> FILE]``, ``cat``, ``touch``, ``mkdir [-p]``,
``rm [-rf]``, ``ln -s``, ``chmod``, ``pwd``, ``id``, ``test -e|-f|-d`` joined by ``;``,
newlines, ``&&`` and ``||``, with ``$VAR``/``${VAR}`` from the step's environment. Paths
go through the step's mounts (bind, tmpfs; a read-only one refuses writes) and are
resolved inside the rootfs. An unknown command is status 127, as in a shell. Or give it
a callable ``handler(spec) -> status`` to do anything else. Every spec it ran is kept
in :attr:`FakeSandbox.runs`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from pybuild.builder.paths import container_join, resolve_in_root
from pybuild.builder.sandbox.spec import RunSpec
from pybuild.lazyre import lazy

_VAR = lazy(r"\$(?:\{(\w+)\}|(\w+))")
_OPS = ("&&", "||", ";")


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class FakeSandbox:
    """Runs RUN steps by interpreting them (or by calling ``handler``); see the module doc."""

    def __init__(self, handler: Callable[[RunSpec], int] | None = None) -> None:
        self.handler = handler
        self.runs: list[RunSpec] = []
        self._lock = threading.Lock()

    def run(self, spec: RunSpec, isolation: str = "chroot") -> int:
        with self._lock:
            self.runs.append(spec)
        if self.handler is not None:
            return self.handler(spec)
        with tempfile.TemporaryDirectory(prefix="pybuild-fake-tmpfs-") as tmp:
            return _Shell(spec, Path(tmp)).run(_script_of(spec))


def _script_of(spec: RunSpec) -> str:
    argv = spec.argv
    if len(argv) >= 3 and argv[1] == "-c":
        return argv[2]
    if argv and argv[0].startswith("/dev/pipes/"):  # a "#!" heredoc, mounted as a file
        for m in spec.mounts:
            if m.target == argv[0] and m.source:
                return Path(m.source).read_text().split("\n", 1)[-1]
    return shlex.join(argv)


class _Shell:
    def __init__(self, spec: RunSpec, tmpfs_root: Path) -> None:
        self.spec = spec
        self.tmpfs_root = tmpfs_root
        self.env = dict(e.partition("=")[::2] for e in spec.env)

    # ------------------------------------------------------------------ running

    def run(self, script: str) -> int:
        status = 0
        try:
            for op, words in self._commands(script):
                if (op == "&&" and status != 0) or (op == "||" and status == 0):
                    continue
                status = self._one(words)
        except _Exit as e:
            return e.status
        return status

    def _commands(self, script: str) -> list[tuple[str, list[str]]]:
        expanded = _VAR.sub(lambda m: self.env.get(m.group(1) or m.group(2), ""), script)
        lexer = shlex.shlex(expanded.replace("\n", " ; "), posix=True, punctuation_chars=";&|>")
        lexer.whitespace_split = True
        out: list[tuple[str, list[str]]] = []
        op, words = ";", list[str]()
        for tok in lexer:
            if tok in _OPS:
                if words:
                    out.append((op, words))
                op, words = tok, []
            else:
                words.append(tok)
        if words:
            out.append((op, words))
        return out

    def _one(self, words: list[str]) -> int:
        redirect: tuple[str, str] | None = None
        for op in (">", ">>"):
            if op in words and words.index(op) + 1 < len(words):
                i = words.index(op)
                redirect, words = (op, words[i + 1]), words[:i] + words[i + 2:]
        name, args = words[0], words[1:]
        command = _COMMANDS.get(name)
        if command is None:
            self._say(f"sh: {name}: not found\n")
            return 127
        try:
            text = command(self, args)
        except OSError as e:
            self._say(f"{name}: {e.strerror}\n")
            return 1
        if text is None:  # the command failed (false, test)
            return 1
        if redirect is not None and redirect[1] != "/dev/null":
            path = self._path(redirect[1], write=True)
            with open(path, "a" if redirect[0] == ">>" else "w") as f:
                f.write(text)
            self._own(path)
        elif redirect is None:
            self._say(text)
        return 0

    def _say(self, text: str) -> None:
        if self.spec.output is not None:
            self.spec.output(text.encode())

    # ------------------------------------------------------------------ paths

    def _path(self, path: str, *, write: bool = False) -> str:
        """``path`` as the step sees it (cwd, mounts) mapped to a host path."""
        full = container_join(self.spec.cwd or "/", path)
        for m in sorted(self.spec.mounts, key=lambda m: len(m.target), reverse=True):
            target = m.target.rstrip("/") or "/"
            if full != target and not full.startswith(target + "/"):
                continue
            if write and m.readonly:
                raise OSError(30, "Read-only file system")
            rest = full[len(target):] or "/"
            if m.type == "tmpfs":
                base = self.tmpfs_root / target.strip("/").replace("/", "_")
                base.mkdir(exist_ok=True)
                return resolve_in_root(str(base), rest)
            source = m.source or ""
            return source if rest == "/" and not os.path.isdir(source) else resolve_in_root(source, rest)
        return resolve_in_root(self.spec.rootfs, full)

    def _own(self, host: str) -> None:
        if os.geteuid() == 0:
            os.lchown(host, self.spec.uid, self.spec.gid)


def _echo(sh: _Shell, args: list[str]) -> str:
    return " ".join(args) + "\n"


def _cat(sh: _Shell, args: list[str]) -> str:
    out = []
    for a in args:
        with open(sh._path(a)) as f:
            out.append(f.read())
    return "".join(out)


def _touch(sh: _Shell, args: list[str]) -> str:
    for a in args:
        path = sh._path(a, write=True)
        Path(path).touch()
        sh._own(path)
    return ""


def _mkdir(sh: _Shell, args: list[str]) -> str:
    parents = "-p" in args
    for a in (a for a in args if not a.startswith("-")):
        path = sh._path(a, write=True)
        if parents:
            os.makedirs(path, exist_ok=True)
        else:
            os.mkdir(path)
        sh._own(path)
    return ""


def _rm(sh: _Shell, args: list[str]) -> str:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    for a in (a for a in args if not a.startswith("-")):
        path = sh._path(a, write=True)
        if os.path.isdir(path) and not os.path.islink(path) and "r" in flags:
            shutil.rmtree(path)
        elif os.path.lexists(path) or "f" not in flags:
            os.unlink(path)
    return ""


def _ln(sh: _Shell, args: list[str]) -> str:
    target, link = [a for a in args if not a.startswith("-")][-2:]
    os.symlink(target, sh._path(link, write=True))
    return ""


def _chmod(sh: _Shell, args: list[str]) -> str:
    mode, *paths = args
    for a in paths:
        os.chmod(sh._path(a, write=True), int(mode, 8))
    return ""


def _test(sh: _Shell, args: list[str]) -> str | None:
    flag, path = args
    check = {"-e": os.path.lexists, "-f": os.path.isfile, "-d": os.path.isdir}[flag]
    return "" if check(sh._path(path)) else None


def _exit(sh: _Shell, args: list[str]) -> str:
    raise _Exit(int(args[0]) if args else 0)


def _false(sh: _Shell, args: list[str]) -> None:
    return None


# each returns its output, or None for a failure (status 1); OSError is a failure with a message
_COMMANDS: dict[str, Callable[[_Shell, list[str]], str | None]] = {
    "true": lambda sh, a: "", ":": lambda sh, a: "", "false": _false, "exit": _exit,
    "echo": _echo, "cat": _cat, "touch": _touch, "mkdir": _mkdir, "rm": _rm, "ln": _ln, "chmod": _chmod,
    "test": _test, "pwd": lambda sh, a: (sh.spec.cwd or "/") + "\n",
    "id": lambda sh, a: f"uid={sh.spec.uid} gid={sh.spec.gid}\n",
}

__all__ = ["FakeSandbox"]
