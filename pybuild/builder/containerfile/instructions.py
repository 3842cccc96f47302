"""Typed instructions: one dataclass per Containerfile instruction.

Why a separate step after parsing: BuildKit parses flags it does not know
(``COPY --user=me``) and rejects them only here, when a node becomes a typed
command; we do the same so the parser matches BuildKit's goldens and the errors
match BuildKit's messages (with ``file:line``).

Values are kept *unexpanded* (ENV/LABEL/ARG values still carry their quotes);
``evaluate.StageEvaluator.expand`` returns an expanded copy.  Every instruction
has ``line``, ``end_line``, ``original`` (the instruction as written, continuations
joined, for ``STEP n/m:`` lines and history) and ``file``.

The classes are not frozen, though nothing assigns to an instruction (evaluate copies them
with ``replace``): every build creates all 20 at start, and frozen's generated
``__setattr__``/``__delattr__`` cost ~0.3 ms a class (issue 19). ``unsafe_hash`` keeps the hash
frozen gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from pybuild.builder.containerfile.golang import go_quote as go_q
from pybuild.builder.containerfile.golang import parse_duration
from pybuild.builder.containerfile.parser import Document, Heredoc, Node
from pybuild.builder.containerfile.values import InstructionValueError as _Err
from pybuild.builder.containerfile.values import (
    MountSpec,
    expose_ports,
    is_git_source,
    parse_mount,
    validate_chmod,
)
from pybuild.errors import ContainerfileError
from pybuild.lazyre import lazy

__all__ = [
    "Instruction", "From", "Run", "MountSpec", "Copy", "Add", "InlineFile", "Env", "Arg", "Label",
    "Expose", "Volume", "Workdir", "User", "Cmd", "Entrypoint", "Shell", "StopSignal", "Healthcheck",
    "Onbuild", "Maintainer", "from_node", "typed", "unsupported", "parse_duration", "expose_ports",
    "validate_chmod", "parse_mount", "is_git_source",
]


# --- values ----------------------------------------------------------------


@dataclass(kw_only=True, unsafe_hash=True)
class Instruction:
    """What every instruction has: where it is and how it was written."""

    line: int = 0
    end_line: int = 0
    original: str = ""
    file: str = "Containerfile"

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, message: str) -> ContainerfileError:
        return ContainerfileError(message, file=self.file, line=self.line)


@dataclass(kw_only=True, unsafe_hash=True)
class From(Instruction):
    """FROM image [AS name] [--platform]: starts a stage."""

    image: str
    stage_name: str | None = None
    platform: str | None = None


@dataclass(kw_only=True, unsafe_hash=True)
class Run(Instruction):
    """RUN, shell or exec form, with its heredocs and --mount/--network/--security/--device."""

    command: list[str] | str
    is_exec_form: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    network: str | None = None  # default | none | host
    security: str | None = None  # sandbox | insecure
    devices: tuple[str, ...] = ()

    @property
    def is_shell_form(self) -> bool:
        return not self.is_exec_form

    def script(self) -> str:
        """The text a shell-form RUN hands to ``SHELL`` (heredocs resolved as BuildKit does).

        ``RUN <<EOF`` alone runs the body; ``RUN cmd <<EOF`` passes the command
        line followed by each body and its terminator, so the shell sees a real heredoc.
        """
        assert isinstance(self.command, str)
        if not self.heredocs:
            return self.command
        if len(self.heredocs) == 1 and _is_heredoc_word(self.command.strip()):
            return self.heredocs[0].body
        text = self.command
        for h in self.heredocs:
            text += "\n" + h.body + h.name
        return text

    def shebang_file(self) -> Heredoc | None:
        """``RUN <<EOF`` whose body starts with ``#!``: BuildKit runs it as an executable file."""
        if (isinstance(self.command, str) and len(self.heredocs) == 1
                and _is_heredoc_word(self.command.strip()) and self.heredocs[0].body.startswith("#!")):
            return self.heredocs[0]
        return None


@dataclass(kw_only=True, unsafe_hash=True)
class InlineFile:
    """A COPY/ADD source given as a heredoc: its file name, body, and whether to expand it."""

    name: str
    body: str
    expand: bool = True


@dataclass(kw_only=True, unsafe_hash=True)
class Copy(Instruction):
    """COPY sources to dest, with BuildKit's flags (--from, --chown, --chmod, --link, ...)."""

    sources: tuple[str, ...]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()
    heredocs: tuple[InlineFile, ...] = ()
    is_exec_form: bool = False


@dataclass(kw_only=True, unsafe_hash=True)
class Add(Copy):
    """ADD: COPY plus URLs, git sources, --checksum and archive unpacking."""

    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


@dataclass(kw_only=True, unsafe_hash=True)
class Env(Instruction):
    """ENV key=value pairs, in order."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(kw_only=True, unsafe_hash=True)
class Arg(Instruction):
    """ARG names, each with its default or None."""

    args: tuple[tuple[str, str | None], ...]


@dataclass(kw_only=True, unsafe_hash=True)
class Label(Instruction):
    """LABEL key=value pairs, in order."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(kw_only=True, unsafe_hash=True)
class Expose(Instruction):
    """EXPOSE ports as written (expanded when the stage runs)."""

    ports: tuple[str, ...]


@dataclass(kw_only=True, unsafe_hash=True)
class Volume(Instruction):
    """VOLUME paths."""

    paths: tuple[str, ...]


@dataclass(kw_only=True, unsafe_hash=True)
class Workdir(Instruction):
    """WORKDIR path."""

    path: str


@dataclass(kw_only=True, unsafe_hash=True)
class User(Instruction):
    """USER user[:group]."""

    user: str


@dataclass(kw_only=True, unsafe_hash=True)
class Cmd(Instruction):
    """CMD, shell or exec form."""

    command: list[str] | str
    is_exec_form: bool = False


@dataclass(kw_only=True, unsafe_hash=True)
class Entrypoint(Instruction):
    """ENTRYPOINT, shell or exec form."""

    command: list[str] | str | None  # None: ``ENTRYPOINT []`` clears it
    is_exec_form: bool = False


@dataclass(kw_only=True, unsafe_hash=True)
class Shell(Instruction):
    """SHELL argv: the shell later shell-form steps run under."""

    argv: list[str]


@dataclass(kw_only=True, unsafe_hash=True)
class StopSignal(Instruction):
    """STOPSIGNAL signal."""

    signal: str


@dataclass(kw_only=True, unsafe_hash=True)
class Healthcheck(Instruction):
    """``test`` is Docker's form (["CMD", ...] or ["CMD-SHELL", "..."]), None for NONE.

    Durations are nanoseconds (Docker stores them so); 0 means "use the default".
    """

    test: list[str] | None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(kw_only=True, unsafe_hash=True)
class Onbuild(Instruction):
    """ONBUILD: the trigger's text and its parsed instruction."""

    expression: str
    inner: Instruction = field(default_factory=lambda: Instruction())


@dataclass(kw_only=True, unsafe_hash=True)
class Maintainer(Instruction):
    """MAINTAINER name (deprecated; a label)."""

    name: str


# --- flags -----------------------------------------------------------------


class _Flags:
    """BuildKit's BFlags: declared flags, then Parse() of ``--name[=value]`` words."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.kinds: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def string(self, name: str) -> None:
        self.kinds[name] = "string"

    def bool(self, name: str) -> None:
        self.kinds[name] = "bool"

    def strings(self, name: str) -> None:
        self.kinds[name] = "strings"
        self.values[name] = []

    def parse(self) -> dict[str, Any]:
        seen: set[str] = set()
        for word in self.words:
            if not word.startswith("--"):
                raise _Err(f"arg should start with -- : {word}")
            name, has_value, value = word[2:].partition("=")
            kind = self.kinds.get(name)
            if kind is None:
                raise _Err(f"unknown flag: {name}")
            if kind != "strings" and name in seen:
                raise _Err(f"duplicate flag specified: {name}")
            seen.add(name)
            if kind == "bool":
                if not has_value:
                    self.values[name] = True
                elif value.lower() in ("true", "false"):
                    self.values[name] = value.lower() == "true"
                else:
                    raise _Err(f"expecting boolean value for flag {name}, not: {value}")
            elif kind == "string":
                if not has_value:
                    raise _Err(f"missing a value on flag: {name}")
                self.values[name] = value
            else:
                if not has_value:
                    raise _Err(f"missing a value on flag: {name}")
                self.values[name].append(value)
        return self.values


# --- helpers ---------------------------------------------------------------


def _is_heredoc_word(word: str) -> bool:
    from pybuild.builder.containerfile.parser import _heredoc_from_word

    try:
        return _heredoc_from_word(word) is not None
    except Exception:  # noqa: BLE001 - a malformed word is simply not a heredoc
        return False



# --- node -> typed ----------------------------------------------------------

_STAGE_NAME = lazy(r"[a-z][a-z0-9\-_.]*\Z")


def _common(node: Node, filename: str) -> dict[str, Any]:
    return {"line": node.start_line, "end_line": node.end_line, "original": node.original, "file": filename}


def _command(node: Node, allow_empty_none: bool = False) -> list[str] | str | None:
    if node.json:
        if allow_empty_none and not node.args:
            return None
        return list(node.args)
    return " ".join(node.args)


def _exactly_one(node: Node, name: str) -> str:
    if len(node.args) != 1:
        raise _Err(f"{name} requires exactly one argument")
    return node.args[0]


def _kvps(node: Node, name: str) -> tuple[tuple[str, str], ...]:
    args = node.args
    if not args:
        raise _Err(f"{name} requires at least one argument")
    out = []
    for j in range(0, len(args) - 2, 3):
        if not args[j]:
            raise _Err(f"{name} names can not be blank")
        out.append((args[j], args[j + 1]))
    return tuple(out)


def _sources(node: Node, name: str) -> tuple[tuple[str, ...], str, tuple[InlineFile, ...]]:
    from pybuild.builder.containerfile.parser import _heredoc_from_word

    if len(node.args) < 2:
        raise _Err(f"{name} requires at least two arguments, but only one was provided. "
                   "Destination could not be determined.")
    *srcs, dest = node.args
    if not node.json and _heredoc_from_word(dest) is not None:
        raise _Err(f"{name} cannot accept a heredoc as a destination")
    lookup = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    inline: list[InlineFile] = []
    for s in srcs:
        h = None if node.json else _heredoc_from_word(s)
        if h is not None:
            doc = lookup.get(h.name)
            body = doc.body if doc else ""
            inline.append(InlineFile(name=h.name, body=body, expand=h.expand))
        else:
            paths.append(s)
    return tuple(paths), dest, tuple(inline)


def _from(node: Node, fl: _Flags, c: dict[str, Any]) -> From:
    fl.string("platform")
    v = fl.parse()
    args = node.args
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Err(f"invalid name for build stage: {go_q(args[2])}, name can't start with a number "
                       "or contain symbols")
    elif len(args) != 1:
        raise _Err("FROM requires either one or three arguments")
    return From(image=args[0], stage_name=name, platform=v.get("platform"), **c)


def _run(node: Node, fl: _Flags, c: dict[str, Any]) -> Run:
    fl.strings("mount")
    fl.string("network")
    fl.string("security")
    fl.strings("device")
    v = fl.parse()
    network = v.get("network")
    if network is not None and network not in ("default", "none", "host"):
        raise _Err(f"unsupported network mode {network!r} (default, none or host)")
    security = v.get("security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise _Err(f"security {security!r} is not valid (sandbox or insecure)")
    mounts = []
    for m in v["mount"]:
        try:
            mounts.append(parse_mount(m))
        except _Err as e:
            raise _Err(f"--mount={m}: {e}") from None
    cmd = _command(node)
    assert cmd is not None
    return Run(command=cmd, is_exec_form=node.json, heredocs=tuple(node.heredocs), mounts=tuple(mounts),
               network=network, security=security, devices=tuple(v["device"]), **c)


def _copy(node: Node, fl: _Flags, c: dict[str, Any], add: bool) -> Copy:
    name = "ADD" if add else "COPY"
    fl.string("chown")
    fl.string("chmod")
    fl.bool("link")
    fl.strings("exclude")
    if add:
        fl.bool("keep-git-dir")
        fl.string("checksum")
        fl.bool("unpack")
    else:
        fl.string("from")
        fl.bool("parents")
    v = fl.parse()
    sources, dest, inline = _sources(node, name)
    chmod = v.get("chmod")
    if chmod is not None and "$" not in chmod:  # `--chmod=${mode}` is checked once expanded
        validate_chmod(chmod)
    common = dict(sources=sources, dest=dest, chown=v.get("chown"), chmod=chmod, link=bool(v.get("link")),
                  excludes=tuple(v["exclude"]), heredocs=inline, is_exec_form=node.json, **c)
    if add:
        checksum = v.get("checksum")
        if checksum is not None and not re.match(r"(sha256|sha384|sha512):[0-9a-f]+\Z", checksum):
            raise _Err(f"invalid checksum {checksum!r} (expected sha256:<hex>)")
        return Add(checksum=checksum, keep_git_dir=bool(v.get("keep-git-dir")), unpack=v.get("unpack"),
                   **common)
    return Copy(from_=v.get("from"), parents=bool(v.get("parents")), **common)


def _healthcheck(node: Node, fl: _Flags, c: dict[str, Any]) -> Healthcheck:
    if not node.args:
        raise _Err("HEALTHCHECK requires at least one argument")
    typ = node.args[0].upper()
    rest = node.args[1:]
    if typ == "NONE":
        if rest:
            raise _Err("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=None, **c)
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        fl.string(name)
    v = fl.parse()
    if typ != "CMD":
        raise _Err(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    if not rest or (not node.json and not " ".join(rest).strip()):
        raise _Err("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if node.json else ["CMD-SHELL", " ".join(rest)]
    durations: dict[str, int] = {}
    for name in ("interval", "timeout", "start-period", "start-interval"):
        raw = v.get(name)
        d = 0
        if raw:
            try:
                d = parse_duration(raw)
            except ValueError as e:
                raise _Err(f"--{name}: {e}") from None
            if d != 0 and d < 1_000_000:
                raise _Err(f'Interval "{name}" cannot be less than 1ms')
        durations[name.replace("-", "_")] = d
    retries = 0
    if v.get("retries"):
        raw = v["retries"]
        if not re.match(r"[+-]?[0-9]+\Z", raw):
            raise _Err(f'--retries: strconv.ParseInt: parsing {go_q(raw)}: invalid syntax')
        retries = int(raw, 10)
        if not -2**31 <= retries < 2**31:
            raise _Err(f'--retries: strconv.ParseInt: parsing {go_q(raw)}: value out of range')
        if retries < 0:
            raise _Err(f"--retries cannot be negative ({retries})")
    return Healthcheck(test=test, retries=retries, interval=durations["interval"], timeout=durations["timeout"],
                       start_period=durations["start_period"], start_interval=durations["start_interval"], **c)


def _onbuild(node: Node, fl: _Flags, c: dict[str, Any], filename: str) -> Onbuild:
    if node.sub is None:
        raise _Err("ONBUILD requires at least one argument")
    fl.parse()
    trigger = node.sub.value.upper()
    if trigger == "ONBUILD":
        raise _Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Err(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    sub = node.sub
    if node.heredocs and not sub.heredocs:
        sub.heredocs = node.heredocs
    inner = from_node(sub, filename)
    return Onbuild(expression=expression, inner=inner, **c)


def from_node(node: Node, filename: str = "Containerfile") -> Instruction:
    """Type one parsed node; raise ContainerfileError naming file and line."""
    try:
        return _typed(node, filename)
    except _Err as e:
        msg = str(e)
        kw = node.value.upper()
        if not (msg.startswith(kw) or msg.startswith("unknown instruction")):
            msg = f"{kw}: {msg}"
        raise ContainerfileError(msg, file=filename, line=node.start_line) from None


def _typed(node: Node, filename: str) -> Instruction:
    c = _common(node, filename)
    fl = _Flags(node.flags)
    kind = node.value
    if kind == "from":
        return _from(node, fl, c)
    if kind == "run":
        return _run(node, fl, c)
    if kind in ("copy", "add"):
        return _copy(node, fl, c, add=kind == "add")
    if kind == "healthcheck":
        return _healthcheck(node, fl, c)
    if kind == "onbuild":
        return _onbuild(node, fl, c, filename)
    if kind not in _SIMPLE:
        raise _Err(f"unknown instruction: {node.value.upper()}")
    fl.parse()
    return _SIMPLE[kind](node, c)


def _arg(node: Node, c: dict[str, Any]) -> Arg:
    if not node.args:
        raise _Err("ARG requires at least one argument")
    out: list[tuple[str, str | None]] = []
    for a in node.args:
        if "=" in a:
            k, v = a.split("=", 1)
            if not k:
                raise _Err("ARG names can not be blank")
            out.append((k, v))
        else:
            out.append((a, None))
    return Arg(args=tuple(out), **c)


def _volume(node: Node, c: dict[str, Any]) -> Volume:
    if not node.args:
        raise _Err("VOLUME requires at least one argument")
    paths = []
    for p in node.args:
        p = p.strip()
        if not p:
            raise _Err("VOLUME specified can not be an empty string")
        paths.append(p)
    return Volume(paths=tuple(paths), **c)


def _expose(node: Node, c: dict[str, Any]) -> Expose:
    if not node.args:
        raise _Err("EXPOSE requires at least one argument")
    return Expose(ports=tuple(node.args), **c)


def _shell(node: Node, c: dict[str, Any]) -> Shell:
    if not node.args:
        raise _Err("SHELL requires at least one argument")
    if not node.json:
        raise _Err("SHELL requires the arguments to be in JSON form")
    return Shell(argv=list(node.args), **c)


def _cmd(node: Node, c: dict[str, Any]) -> Cmd:
    cmd = _command(node)
    assert cmd is not None
    return Cmd(command=cmd, is_exec_form=node.json, **c)


def _entrypoint(node: Node, c: dict[str, Any]) -> Entrypoint:
    return Entrypoint(command=_command(node, allow_empty_none=True), is_exec_form=node.json, **c)


_SIMPLE: dict[str, Any] = {
    "env": lambda n, c: Env(pairs=_kvps(n, "ENV"), **c),
    "label": lambda n, c: Label(pairs=_kvps(n, "LABEL"), **c),
    "arg": _arg,
    "maintainer": lambda n, c: Maintainer(name=_exactly_one(n, "MAINTAINER"), **c),
    "workdir": lambda n, c: Workdir(path=_exactly_one(n, "WORKDIR"), **c),
    "user": lambda n, c: User(user=_exactly_one(n, "USER"), **c),
    "stopsignal": lambda n, c: StopSignal(signal=_exactly_one(n, "STOPSIGNAL"), **c),
    "volume": _volume,
    "expose": _expose,
    "shell": _shell,
    "cmd": _cmd,
    "entrypoint": _entrypoint,
}


def typed(doc: Document) -> list[Instruction]:
    """Every node of a document, typed (the first error stops, naming its line)."""
    return [from_node(n, doc.filename) for n in doc.nodes]


def unsupported(instr: Instruction) -> str | None:
    """Why pybuild cannot execute this instruction yet, or None.

    The executor checks every instruction of the graph before its first step and
    stops with ``file:line: ... not supported yet``.
    """
    if isinstance(instr, Onbuild):
        return None  # recorded in the image config, never run here
    if isinstance(instr, Run):
        if instr.devices:
            return "RUN --device is not supported yet"
    return None


def replace(instr: Instruction, **changes: Any) -> Instruction:
    """dataclasses.replace, typed for instructions (keeps line information)."""
    import dataclasses

    return dataclasses.replace(instr, **changes)


def field_names(instr: Instruction) -> list[str]:
    return [f.name for f in fields(instr)]
