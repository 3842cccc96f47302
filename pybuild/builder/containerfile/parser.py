"""Containerfile text -> untyped nodes, line for line as BuildKit's parser reads it.

Why our own and not dockerfile-parse: that library splits lines but knows no
heredocs, builder flags or JSON exec forms, and accepts files BuildKit rejects.
This module follows ``moby/buildkit/frontend/dockerfile/parser`` rule for rule:
directives, continuation with the escape character (comments and blank lines
inside a continuation are skipped, an escaped escape does not continue), builder
flags, per-instruction argument grammars, JSON with shell-form fallback, heredocs.

A :class:`Node` keeps the arguments exactly as BuildKit's AST does, so
:meth:`Node.dump` reproduces BuildKit's golden ``result`` files; typing and
validation of flags happen later (``instructions.from_node``), because BuildKit
parses ``COPY --user=me`` and ``CMD --doit`` and rejects them only when typing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pybuild.builder.containerfile.expand import Lexer, go_isspace
from pybuild.builder.containerfile.golang import go_quote
from pybuild.errors import ContainerfileError, ExpansionError
from pybuild.lazyre import lazy

__all__ = ["Heredoc", "Node", "Document", "parse", "parse_file", "go_quote"]

DEFAULT_ESCAPE = "\\"
_VALID_DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = lazy(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_TOKEN_WS = lazy(r"[\t\v\f\r ]+")
_HEREDOC = lazy(r"([0-9]*)<<(-?)([^<]*)\Z")
_HEREDOC_INSTRUCTIONS = ("run", "copy", "add")
_OUR_FRONTEND = lazy(r"^(docker\.io/)?(docker/)?dockerfile(-upstream)?(:[^@\s]*)?(@\S+)?$")


@dataclass
class Heredoc:
    """A here-document attached to RUN/COPY/ADD: ``<<EOF``, ``<<-EOF``, ``3<<'EOF'``."""

    name: str
    content: str = ""
    expand: bool = True  # False when any part of the delimiter was quoted
    chomp: bool = False  # <<- : leading tabs are stripped from the body
    fd: int = 0

    @property
    def body(self) -> str:
        """The content as the instruction sees it (tabs stripped for ``<<-``)."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass
class Node:
    """One instruction as parsed, before typing (BuildKit's ``parser.Node``)."""

    value: str  # the instruction word, lower-cased
    original: str  # the logical line as written (continuations joined)
    flags: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    json: bool = False
    start_line: int = 0
    end_line: int = 0
    heredocs: list[Heredoc] = field(default_factory=list)
    sub: Node | None = None  # the trigger of ONBUILD

    def arg_list(self) -> list[str]:
        """Arguments as BuildKit's instruction parser sees them (ONBUILD: inner word + args)."""
        if self.sub is not None:
            return [self.sub.value, *self.sub.arg_list()]
        return list(self.args)

    def dump(self) -> str:
        """BuildKit's ``Node.Dump`` form, e.g. ``copy ["--from=a"] "x" "/y"``."""
        parts = [self.value.lower()]
        if self.flags:
            parts.append("[" + " ".join(go_quote(f) for f in self.flags) + "]")
        if self.sub is not None:
            parts.append("(" + self.sub.dump() + ")")
        parts.extend(go_quote(a) for a in self.args)
        return " ".join(parts).strip()

    def can_contain_heredoc(self) -> bool:
        node = self.sub if (self.value == "onbuild" and self.sub is not None) else self
        return node.value in _HEREDOC_INSTRUCTIONS and not node.json


@dataclass
class Document:
    """A parsed Containerfile: nodes in file order plus what the directives said."""

    nodes: list[Node]
    escape: str = DEFAULT_ESCAPE
    filename: str = "Containerfile"
    warnings: list[str] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def syntax(self) -> str | None:
        return self.directives.get("syntax")

    @property
    def check(self) -> str | None:
        return self.directives.get("check")

    def dump(self) -> str:
        return "".join(f"({n.dump()})\n" for n in self.nodes)


# --- helpers ---------------------------------------------------------------


def _trim_space(s: str) -> str:
    i, j = 0, len(s)
    while i < j and go_isspace(s[i]):
        i += 1
    while j > i and go_isspace(s[j - 1]):
        j -= 1
    return s[i:j]


def _trim_left_space(s: str) -> str:
    i = 0
    while i < len(s) and go_isspace(s[i]):
        i += 1
    return s[i:]


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return _trim_left_space(_trim_newline(raw)).startswith("#")


class _State:
    """Directive and escape state while reading one file."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.escape = DEFAULT_ESCAPE
        self.done = False
        self.seen: dict[str, str] = {}
        self.warnings: list[str] = []
        self._set_escape(DEFAULT_ESCAPE)

    def _set_escape(self, s: str) -> None:
        e = re.escape(s)
        self.escape = s
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def directive(self, token: str, line: int) -> None:
        if self.done:
            return
        if not token.startswith("#"):
            self.done = True
            return
        m = _DIRECTIVE.match(_trim_left_space(token[1:]))
        if not m or m.group(1).lower() not in _VALID_DIRECTIVES:
            self.done = True
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise ContainerfileError(f"only one {key} parser directive can be used",
                                     file=self.filename, line=line)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise ContainerfileError(f"invalid escape token '{value}' does not match ` or \\",
                                         file=self.filename, line=line)
            self._set_escape(value)
        elif key == "syntax" and not _OUR_FRONTEND.match(value.split(" ", 1)[0]):
            self.warnings.append(f"{self.filename}:{line}: the syntax directive names another frontend "
                                 f"({value}); pybuild reads the file with its own Dockerfile parser")

    def process_line(self, raw: str, strip_left: bool, line: int) -> str:
        token = _trim_newline(raw)
        if strip_left:
            token = _trim_left_space(token)
        self.directive(token, line)
        return "" if token.startswith("#") else token

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line, count=1), False
        return line, True


# --- argument grammars (BuildKit's line_parsers.go) -------------------------


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Split leading ``--flag[=value]`` words from the rest of the line."""
    words: list[str] = []
    phase = 0  # 0 spaces, 1 word, 2 quote
    word: list[str] = []
    quote = ""
    blank_ok = False
    n = len(line)
    pos = 0
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if go_isspace(ch):
                pos += 1
                continue
            if (ch != "-" or pos + 1 == n or line[pos + 1] != "-"):
                return line[pos:], words
            phase = 1
        if phase in (1, 2) and pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if phase == 1:
            if go_isspace(ch):
                phase = 0
                w = "".join(word)
                if w == "--":
                    return line[pos:], words
                if blank_ok or w:
                    words.append(w)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = 2
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if phase == 2:
            if ch == quote:
                phase = 1
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    phase = 1
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
        pos += 1
    return "", words


def _parse_words(rest: str, escape: str) -> list[str]:
    """Words for ENV/LABEL/ARG: quotes and escapes are kept, to be removed at expansion."""
    words: list[str] = []
    phase = 0
    word: list[str] = []
    quote = ""
    blank_ok = False
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if go_isspace(ch):
                pos += 1
                continue
            phase = 1
        if phase in (1, 2) and pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == 1:
            if go_isspace(ch):
                phase = 0
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = 2
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if phase == 2:
            if ch == quote:
                phase = 1
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = 1
                    pos += 1
                    continue
                pos += 1
                word.append(ch)
                ch = rest[pos]
            word.append(ch)
        pos += 1
    return words


_Parsed = tuple[list[str], bool, "Node | None"]


def _name_val(rest: str, key: str, st: _State) -> _Parsed:
    words = _parse_words(rest, st.escape)
    if not words:
        return [], False, None
    if "=" not in words[0]:
        parts = re.split(r"[\t\v\f\r ]+", rest, maxsplit=1)
        if len(parts) < 2:
            raise _ArgError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""], False, None
    out: list[str] = []
    for w in words:
        if "=" not in w:
            raise _ArgError(f"Syntax error - can't find = in {go_quote(w)}. Must be of the form: name=value")
        k, v = w.split("=", 1)
        out += [k, v, "="]
    return out, False, None


def _name_or_name_val(rest: str, st: _State) -> _Parsed:
    return _parse_words(rest, st.escape), False, None


def _whitespace_list(rest: str, st: _State) -> _Parsed:
    if rest == "":
        return [], False, None
    return _TOKEN_WS.split(rest), False, None


def _string(rest: str, st: _State) -> _Parsed:
    return ([rest] if rest else []), False, None


class _ArgError(Exception):
    """An argument-grammar error; the caller adds file and lines."""


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise _NotJSON(name)


def _json(rest: str) -> list[str]:
    rest = _trim_left_space(rest)
    if not rest.startswith("["):
        raise _NotJSON(rest)
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise _NotJSON(rest) from e
    if not isinstance(value, list):
        raise _NotJSON(rest)
    for item in value:
        if not isinstance(item, str):
            raise _ArgError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str, st: _State) -> _Parsed:
    if rest == "":
        return [], False, None
    try:
        return _json(rest), True, None
    except _NotJSON:
        return [rest], False, None


def _maybe_json_list(rest: str, st: _State) -> _Parsed:
    try:
        return _json(rest), True, None
    except _NotJSON:
        return _whitespace_list(rest, st)


def _health(rest: str, st: _State) -> _Parsed:
    sep = 0
    while sep < len(rest) and not go_isspace(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and go_isspace(rest[nxt]):
        nxt += 1
    if sep == 0:
        return [], False, None
    args, is_json, _ = _maybe_json(rest[nxt:], st)
    return [rest[:sep], *args], is_json, None


def _sub_command(rest: str, st: _State) -> _Parsed:
    if rest == "":
        return [], False, None
    return [], False, _node_from_line(rest, st)


def _ignore(rest: str, st: _State) -> _Parsed:
    return [], False, None


_DISPATCH: dict[str, Callable[[str, _State], _Parsed]] = {
    "add": _maybe_json_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": lambda r, s: _name_val(r, "ENV", s),
    "expose": _whitespace_list,
    "from": _whitespace_list,
    "healthcheck": _health,
    "label": lambda r, s: _name_val(r, "LABEL", s),
    "maintainer": _string,
    "onbuild": _sub_command,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_list,
    "workdir": _string,
}


def _node_from_line(line: str, st: _State) -> Node:
    parts = _TOKEN_WS.split(_trim_space(line), maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    rest = _trim_space(rest)
    args, is_json, sub = _DISPATCH.get(cmd, _ignore)(rest, st)
    return Node(value=cmd, original=line, flags=flags, args=args, json=is_json, sub=sub)


def _heredoc_from_word(word: str) -> Heredoc | None:
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    words = Lexer("\\", skip_unset=True).process_words(rest, {})
    if len(words) != 1:
        return None
    raw = Lexer("\\", skip_unset=True, raw_quotes=True).process_words(rest, {})
    if len(raw) != 1:
        raise _ArgError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    fd = int(m.group(1)) if m.group(1) else 0
    return Heredoc(name=words[0], expand=quotes == raw_quotes, chomp=m.group(2) == "-", fd=fd)


def _heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process_words(line, {})
    except ExpansionError:
        words = []
    docs = []
    for w in words:
        h = _heredoc_from_word(w)
        if h is not None:
            docs.append(h)
    return docs


def _split_lines(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse(text: str, filename: str = "Containerfile") -> Document:
    """Parse Containerfile text into untyped nodes; raise ContainerfileError with file:line."""
    st = _State(filename)
    lines = _split_lines(text)
    nodes: list[Node] = []
    warnings = st.warnings
    i = 0
    line_no = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        if line_no == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        token = st.process_line(raw, True, line_no + 1)
        line_no += 1
        start = line_no
        line, eol = st.trim_continuation(token)
        if eol and line == "":
            continue
        empty_continuation = False
        while not eol and i < len(lines):
            raw = lines[i]
            i += 1
            token = st.process_line(raw, False, line_no + 1)
            line_no += 1
            if _is_comment(raw):
                continue
            if _trim_left_space(token) == "":
                empty_continuation = True
                continue
            cont, eol = st.trim_continuation(token)
            line += cont
        if empty_continuation:
            warnings.append(f"{filename}:{start}: empty continuation line (an error in a future "
                            "Dockerfile syntax)")
        try:
            node = _node_from_line(line, st)
        except (_ArgError, ExpansionError) as e:
            raise ContainerfileError(str(e).removeprefix(": "), file=filename, line=start) from None
        if node.can_contain_heredoc():
            try:
                heredocs = _heredocs_from_line(line)
            except (_ArgError, ExpansionError) as e:
                raise ContainerfileError(str(e).removeprefix(": "), file=filename, line=start) from None
            for h in heredocs:
                terminated = False
                body: list[str] = []
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    line_no += 1
                    candidate = _trim_newline(raw)
                    if h.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == h.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise ContainerfileError(f"unterminated heredoc {h.name!r} (started here, "
                                             f"no line {h.name!r} before the end of the file)",
                                             file=filename, line=start)
                h.content = "".join(body)
                node.heredocs.append(h)
        node.start_line, node.end_line = start, line_no
        if node.sub is not None:
            node.sub.start_line, node.sub.end_line = start, line_no
        nodes.append(node)
    if not nodes:
        raise ContainerfileError("file with no instructions", file=filename, line=max(line_no, 1))
    return Document(nodes=nodes, escape=st.escape, filename=filename, warnings=warnings,
                    directives=dict(st.seen))


def parse_file(path: str | Path, name: str | None = None) -> Document:
    """Read and parse a Containerfile (UTF-8; undecodable bytes are replaced)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ContainerfileError(f"cannot read the Containerfile: {e.strerror}", file=str(p)) from None
    return parse(data.decode("utf-8", errors="replace"), name or str(p))
