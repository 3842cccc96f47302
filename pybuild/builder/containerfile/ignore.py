"""Ignore files (.containerignore / .dockerignore) with Docker's patternmatcher semantics.

Why not fnmatch or gitignore: Docker's rules differ from both — a pattern is a
path from the context root (leading ``/`` and ``filepath.Clean`` normalised),
``*`` and ``?`` stop at ``/``, ``**`` crosses directories, a pattern that matches
a parent directory excludes everything below it, ``!`` re-includes, and the
last matching pattern wins.

Lookup order is buildah's: ``--ignorefile``; then ``<Containerfile>.containerignore``
and ``<Containerfile>.dockerignore`` beside the Containerfile; then
``.containerignore``, then ``.dockerignore`` in the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pybuild.errors import ContainerfileError, ContextError

__all__ = ["IgnoreMatcher", "Pattern", "load_ignore", "read_patterns", "go_clean", "find_ignore_file"]


def go_clean(path: str) -> str:
    """Go's path.Clean: lexical, '' -> '.', '//a/../b' -> '/b'."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    s = "/".join(out)
    if rooted:
        return "/" + s
    return s or "."


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern line."""

    text: str  # cleaned, without the '!'
    exclusion: bool
    regex: re.Pattern[str]
    dirs: tuple[str, ...]

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    out.append(".*")
                else:
                    out.append("(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in ".$":
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
            else:
                out.append("\\\\")
        else:
            out.append(ch)
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class IgnoreMatcher:
    """Decides whether a context path is excluded (``.excluded("a/b.txt")``)."""

    def __init__(self, patterns: list[str], source: str = ".dockerignore") -> None:
        self.source = source
        self.patterns: list[Pattern] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:]
                if not p:
                    raise ContainerfileError('illegal exclusion pattern: "!"', file=source)
            try:
                rx = _compile(p)
            except re.error as e:
                raise ContainerfileError(f"bad ignore pattern {raw!r}: {e}", file=source) from None
            self.patterns.append(Pattern(p, exclusion, rx, tuple(p.split("/"))))
        self.has_exceptions = any(p.exclusion for p in self.patterns)

    def excluded(self, relpath: str, is_dir: bool = False) -> bool:
        """Docker's MatchesOrParentMatches: last match wins, parents count."""
        path = go_clean(relpath.replace("\\", "/")).lstrip("/") or "."
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parent_dirs = parent.split("/")
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit and parent != ".":
                for i in range(len(parent_dirs)):
                    if pat.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def may_have_exceptions_under(self, directory: str) -> bool:
        """False when no ``!`` pattern could re-include anything below ``directory``.

        A walker that finds ``directory`` excluded may skip it entirely when this
        is False.  Conservative: True whenever it cannot rule an exception out.
        """
        if not self.has_exceptions:
            return False
        d = go_clean(directory.replace("\\", "/")).lstrip("/")
        parts = [] if d in ("", ".") else d.split("/")
        for pat in self.patterns:
            if not pat.exclusion:
                continue
            if "**" in pat.text:
                return True
            comps = pat.dirs
            if len(comps) <= len(parts):
                # the pattern names something at or above this directory: it could
                # only re-include the directory itself, which the caller sees anyway
                if all(_compile(c).match(p) for c, p in zip(comps, parts, strict=False)):
                    return True
                continue
            if all(_compile(c).match(p) for c, p in zip(comps, parts, strict=False)):
                return True
        return False


def read_patterns(text: str) -> list[str]:
    """Docker's ignorefile.ReadAll: comments, blank lines, '!', leading '/', Clean."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        if n == 0 and line.startswith("\ufeff"):
            line = line[1:]
        if line.startswith("#"):
            continue
        p = line.strip()
        if not p:
            continue
        invert = p.startswith("!")
        if invert:
            p = p[1:].strip()
        if p:
            p = go_clean(p)
            if len(p) > 1 and p.startswith("/"):
                p = p[1:]
        out.append("!" + p if invert else p)
    return out


def find_ignore_file(context: Path, containerfile: Path | None = None,
                     ignorefile: Path | None = None) -> Path | None:
    """The ignore file buildah would use, or None."""
    if ignorefile is not None:
        return Path(ignorefile)
    candidates: list[Path] = []
    if containerfile is not None:
        cf = Path(containerfile)
        candidates += [cf.with_name(cf.name + ".containerignore"), cf.with_name(cf.name + ".dockerignore")]
    candidates += [Path(context) / ".containerignore", Path(context) / ".dockerignore"]
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_ignore(context: Path, containerfile: Path | None = None,
                ignorefile: Path | None = None) -> IgnoreMatcher | None:
    """Find and read the ignore file; None when there is none.

    An ignore file in the context that is a symlink leading out of it counts as absent:
    BuildKit reads it through the context, where such a link resolves to nothing."""
    path = find_ignore_file(Path(context), containerfile, ignorefile)
    if path is None:
        return None
    if ignorefile is None and path.parent.resolve() == Path(context).resolve() and path.is_symlink():
        real = path.resolve()
        root = Path(context).resolve()
        if root not in real.parents:
            return None
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise ContextError(f"{path}: cannot read the ignore file: {e.strerror}") from None
    return IgnoreMatcher(read_patterns(text), source=str(path))
