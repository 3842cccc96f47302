"""COPY and ADD: selecting sources, hashing them for the cache, writing them into a rootfs.

Sources come from a root (the build context, another stage's rootfs, an image)
and never from outside it: a source that climbs above its root is an error
(``COPY ../x``), a symlink named as a source is followed only inside its root,
and symlinks inside copied trees are copied as links. Destinations are resolved
inside the container's root, so ``/app -> /etc`` in the image writes to the
container's /etc, never the host's.

Docker's destination rules: a trailing ``/`` or several sources make the
destination a directory; a directory source copies its contents; a relative
destination is relative to WORKDIR; missing parents are created 0755 root.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import posixpath
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybuild.builder.paths import container_join, makedirs_in_root, resolve_in_root
from pybuild.errors import ContextError, UnsafeContentError, UserError
from pybuild.lazyre import lazy

ModeFunc = Callable[[int, bool], int]  # (old mode, is_dir) -> new permission bits


@dataclass
class SourceRoot:
    """Where COPY sources are read from."""

    path: str  # host directory
    kind: str = "context"  # context | stage | image
    ignore: Any = None  # an IgnoreMatcher for the context, else None
    # COPY --exclude: patterns matched against paths relative to each selected source
    # (a file source: its name), as BuildKit applies them; for every kind of source
    exclude: Any = None

    @property
    def keeps_owner(self) -> bool:
        """Files from a stage or image keep their owners; context files become root's."""
        return self.kind != "context"


@dataclass
class Selected:
    """One selected source: its host path, the name it is copied under, and whether the
    user named it directly (a named directory copies its contents)."""

    host: str
    rel: str  # path relative to the source root (for messages and hashing)
    is_dir: bool
    named: bool = True
    pivot: str = ""  # COPY --parents a/./b/c: the part of rel above the "/./" pivot ("a")


@dataclass
class CopyResult:
    """What a copy wrote: counts for the step's note."""

    files: int = 0
    bytes: int = 0
    paths: list[str] = field(default_factory=list)


_GLOB_CHARS = lazy(r"[*?\[]")


def _go_pattern(pat: str) -> str:
    """Go's filepath.Match classes use ``[^...]``; fnmatch spells negation ``[!...]``."""
    return re.sub(r"\[\^", "[!", pat)


def _clean_source(pattern: str, where: str, kind: str) -> str:
    """The source path relative to its root; climbing above the root is an error."""
    raw = pattern
    trailing = pattern.endswith("/")
    parts: list[str] = []
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                if kind == "context":
                    raise ContextError(f"{raw}: source is outside the build context", where=where)
                continue  # inside a stage's root, '..' at / stays at /
            parts.pop()
            continue
        parts.append(part)
    rel = "/".join(parts)
    return rel + ("/" if trailing and rel else "")


def select_sources(root: SourceRoot, patterns: list[str], *, where: str | None = None,
                   instruction: str = "COPY") -> list[Selected]:
    """Expand ``patterns`` (paths or Go-style wildcards) inside ``root``.

    A plain path that does not exist is an error naming the source; so is a wildcard
    matching nothing, unless another source selects something (BuildKit's
    AllowEmptyWildcard beside other sources)."""
    out: list[Selected] = []
    empty: ContextError | None = None
    for pattern in patterns:
        before, pivot_sep, _after = pattern.partition("/./")
        pivot = _clean_source(before, where or "", root.kind).rstrip("/") if pivot_sep else ""
        start = len(out)
        try:
            _select_one(root, pattern, out, where, instruction)
        except _NothingMatches as e:
            empty = empty or e
        for sel in out[start:]:
            sel.pivot = pivot
    if empty is not None and not out:
        raise empty
    return out


class _NothingMatches(ContextError):
    """A wildcard source that matched nothing (fatal only when no other source selects)."""


def _select_one(root: SourceRoot, pattern: str, out: list[Selected], where: str | None,
                instruction: str) -> None:
    rel = _clean_source(pattern, where or "", root.kind).rstrip("/")
    if not _GLOB_CHARS.search(rel):
        host = _resolve_source(root, rel)
        if host is None or (root.ignore is not None and rel and root.ignore.excluded(rel)):
            what = "the build context" if root.kind == "context" else "the source stage"
            raise ContextError(f"{instruction} {pattern}: no such file or directory in {what}",
                               where=where)
        sel = Selected(host, rel, os.path.isdir(host))
        if not _excluded_file(root, sel):
            out.append(sel)
        return
    matches = [m for m in _glob(root, rel) if not _excluded_file(root, m)]
    if not matches:
        raise _NothingMatches(f"{instruction} {pattern}: no source files were specified (nothing matches)",
                              where=where)
    out.extend(matches)


def _excluded_file(root: SourceRoot, sel: Selected) -> bool:
    return bool(root.exclude is not None and not sel.is_dir
                and root.exclude.excluded(posixpath.basename(sel.rel) or os.path.basename(sel.host)))


def _resolve_source(root: SourceRoot, rel: str) -> str | None:
    """The host path of source ``rel``, following symlinks only inside the root."""
    host = resolve_in_root(root.path, "/" + rel) if rel else os.path.abspath(root.path)
    if not os.path.lexists(host):
        return None
    return host


def _glob(root: SourceRoot, rel: str) -> Iterator[Selected]:
    parts = rel.split("/")
    current: list[tuple[str, str]] = [("", os.path.abspath(root.path))]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt: list[tuple[str, str]] = []
        for crel, chost in current:
            if not _GLOB_CHARS.search(part):
                candidates = [part]
            else:
                try:
                    names = sorted(os.listdir(chost))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                pat = _go_pattern(part)
                candidates = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            for name in candidates:
                r = f"{crel}/{name}" if crel else name
                host = resolve_in_root(root.path, "/" + r)
                if not os.path.lexists(host):
                    continue
                if root.ignore is not None and root.ignore.excluded(r):
                    continue
                if not last and not os.path.isdir(host):
                    continue
                nxt.append((r, host))
        current = nxt
    for r, host in current:
        yield Selected(host, r, os.path.isdir(host))


# ---------------------------------------------------------------------- walking

@dataclass
class Entry:
    """A file or directory to copy: where it comes from and its path below the destination."""

    host: str
    rel: str  # "" for the top of a copied directory
    st: os.stat_result


def walk_source(sel: Selected, ignore: Any = None, exclude: Any = None) -> Iterator[Entry]:
    """Every entry of a selected source, sorted, parents before children; symlinks not followed
    (except the selected path itself, which was already resolved)."""
    st = os.stat(sel.host) if sel.named else os.lstat(sel.host)
    if not stat.S_ISDIR(st.st_mode):
        yield Entry(sel.host, "", st)
        return
    yield Entry(sel.host, "", st)
    yield from _walk_dir(sel.host, "", sel.rel, ignore, exclude)


def _walk_dir(host: str, rel: str, ctx_rel: str, ignore: Any, exclude: Any = None) -> Iterator[Entry]:
    try:
        with os.scandir(host) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError as e:
        raise ContextError(f"cannot read {host}: {e.strerror}") from e
    for de in entries:
        r = f"{rel}/{de.name}" if rel else de.name
        cr = f"{ctx_rel}/{de.name}" if ctx_rel else de.name
        is_dir = de.is_dir(follow_symlinks=False)
        for matcher, path in ((ignore, cr), (exclude, r)):
            if matcher is not None and matcher.excluded(path, is_dir):
                break
        else:
            st = de.stat(follow_symlinks=False)
            yield Entry(de.path, r, st)
            if is_dir:
                yield from _walk_dir(de.path, r, cr, ignore, exclude)
            continue
        if is_dir and matcher.may_have_exceptions_under(path):
            # an excluded dir with re-included content: descend, but skip the dir entry itself
            yield from _walk_dir(de.path, r, cr, ignore, exclude)


# ---------------------------------------------------------------------- hashing (cache keys)

class ContentHashCache:
    """sha256 of files, remembered by (device, inode, size, mtime_ns, ctime_ns).

    Unchanged files are not read again between builds: the cache lives in the store
    (an SQLite file), and any change to a file changes its ctime. A file changed in the
    last seconds is hashed but not remembered: a second write within the same clock tick
    could leave size and times as they were (git's "racy" entries). Safe to share between
    the threads of parallel stages."""

    RACY_NS = 2_000_000_000
    _BATCH = 500  # keys per query (under SQLite's oldest limit of 999 bound values)

    def __init__(self, path: str | None) -> None:
        self._db: Any = None
        self._path = path
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def _open(self) -> Any:
        if self._db is None and self._path:
            import sqlite3

            try:
                self._db = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
                # a rollback journal, not WAL: a reader (a build whose files are all known)
                # then creates no -wal/-shm files beside the database (issue 19); a store
                # made by an older pybuild is switched back once, when nothing else has it open
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    with contextlib.suppress(sqlite3.Error):  # another process has it open: later
                        self._db.execute("PRAGMA journal_mode=DELETE")
                self._db.execute("CREATE TABLE IF NOT EXISTS h (k TEXT PRIMARY KEY, d TEXT)")
            except sqlite3.Error:
                self._db = None
                self._path = None
        return self._db

    def file_digest(self, host: str, st: os.stat_result) -> str:
        return self.file_digests([(host, st)])[0]

    def file_digests(self, files: list[tuple[str, os.stat_result]]) -> list[str]:
        """The sha256 of each (host path, stat): the known ones answered by one query per
        ``_BATCH`` files (an unchanged context: no file read, a handful of queries), the
        others read and hashed."""
        keys = [_stat_key(st) for _, st in files]
        known: dict[str, str] = {}
        with self._lock:
            db = self._open()
            if db is not None:
                for i in range(0, len(keys), self._BATCH):
                    chunk = keys[i:i + self._BATCH]
                    marks = ",".join("?" * len(chunk))
                    known.update(db.execute(f"SELECT k, d FROM h WHERE k IN ({marks})", chunk).fetchall())
        return [known.get(key) or self._hash(host, st, key, remember=db is not None)
                for (host, st), key in zip(files, keys, strict=True)]

    def tree_digest(self, probe: str) -> str | None:
        """The content key remembered for a selection whose every stat is ``probe``'s."""
        with self._lock:
            db = self._open()
            row = db.execute("SELECT d FROM h WHERE k=?", ("tree:" + probe,)).fetchone() if db is not None else None
        return str(row[0]) if row else None

    def remember_tree(self, probe: str, digest: str) -> None:
        with self._lock:
            if self._db is not None:
                self._pending.append(("tree:" + probe, digest))

    def settled(self, stats: Iterable[os.stat_result]) -> bool:
        """No file changed in the last RACY_NS (its stat key then says all about it)."""
        now = time.time_ns()
        return all(now - max(st.st_ctime_ns, st.st_mtime_ns) > self.RACY_NS for st in stats)

    def _hash(self, host: str, st: os.stat_result, key: str, *, remember: bool) -> str:
        h = hashlib.sha256()
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                h.update(chunk)
        finally:
            os.close(fd)
        digest = h.hexdigest()
        if remember and self.settled([st]):
            with self._lock:
                self._pending.append((key, digest))
            if len(self._pending) >= 2000:
                self.flush()
        return digest

    def flush(self) -> None:
        with self._lock:
            if self._db is not None and self._pending:
                import sqlite3

                with contextlib.suppress(sqlite3.Error):
                    self._db.executemany("INSERT OR REPLACE INTO h (k, d) VALUES (?, ?)", self._pending)
                    self._db.commit()
                self._pending = []

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _stat_key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def hash_sources(selected: list[Selected], root: SourceRoot, cache: ContentHashCache) -> str:
    """The content key of exactly the selected sources: names, types, modes, owners (when kept),
    link targets and bytes — not mtimes."""
    # one walk; then the regular files' digests in one batch (see ContentHashCache.file_digests)
    lines: list[str] = []
    files: list[tuple[int, str, str, os.stat_result]] = []  # (index in lines, prefix, host, stat)
    for sel in selected:
        lines.append(f"S {sel.rel}\0")
        for e in walk_source(sel, root.ignore, root.exclude):
            st = e.st
            owner = f"{st.st_uid}:{st.st_gid}" if root.keeps_owner else ""
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                files.append((len(lines), f"f {e.rel} {mode:o} {owner} ", e.host, st))
                lines.append("")
            elif stat.S_ISDIR(st.st_mode):
                lines.append(f"d {e.rel} {mode:o} {owner}\0")
            elif stat.S_ISLNK(st.st_mode):
                lines.append(f"l {e.rel} {os.readlink(e.host)} {owner}\0")
            else:
                lines.append(f"o {e.rel} {st.st_mode:o} {st.st_rdev} {owner}\0")
    # the whole selection as it stats now (names, modes, owners, links, each file's stat key):
    # when it is as it was, the key is answered by one lookup, no file digest looked up
    probe = hashlib.sha256("".join(lines).encode())
    for _, prefix, _, st in files:
        probe.update(f"{prefix}{_stat_key(st)}\0".encode())
    known = cache.tree_digest(probe.hexdigest())
    if known is not None:
        return known
    digests = cache.file_digests([(host, st) for _, _, host, st in files])
    for (i, prefix, _, _), d in zip(files, digests, strict=True):
        lines[i] = f"{prefix}{d}\0"
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    if cache.settled(st for _, _, _, st in files):
        cache.remember_tree(probe.hexdigest(), digest)
    cache.flush()
    return digest


# ---------------------------------------------------------------------- writing

def parse_chmod(value: str | None) -> ModeFunc | None:
    """``--chmod``: octal (``0755``) or symbolic (``u+x,go-w``) as BuildKit accepts."""
    if not value:
        return None
    if re.fullmatch(r"[0-7]{1,4}", value):
        bits = int(value, 8)
        return lambda old, is_dir: bits
    clauses = value.split(",")
    ops = []
    for clause in clauses:
        m = re.fullmatch(r"([ugoa]*)([-+=])([rwxXst]*)", clause)
        if not m:
            raise UserError(f"invalid --chmod value {value!r}")
        ops.append(m.groups())

    def apply(old: int, is_dir: bool) -> int:
        mode = old & 0o7777
        for who, op, perms in ops:
            who = who or "a"
            mask = 0
            for w in who:
                mask |= {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o6777}[w]
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x" or (p == "X" and (is_dir or old & 0o111)):
                    bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
            bits &= mask | (0o1000 if "t" in perms else 0)
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~mask) | bits
        return mode

    return apply


@dataclass
class CopyOptions:
    """How entries are written: owner, mode, timestamps, links (COPY's flags resolved)."""

    owner: tuple[int, int] | None = None  # --chown resolved; None: root (context) or kept (stage)
    chmod: ModeFunc | None = None
    keep_owner: bool = False
    parents: bool = False  # --parents: keep each source's path (relative to its root) below dest
    exclude: Any = None  # --exclude matcher (see SourceRoot.exclude)


def names_directory(dest: str) -> bool:
    """A COPY/ADD destination that says "a directory" (``/app/``, ``/app/.``, ``.``), as
    Docker's and BuildKit's rule reads it."""
    return dest.endswith(("/", "/.")) or dest in (".", "./")


def copy_into_rootfs(rootfs: str, selected: list[Selected], dest: str, workdir: str, opts: CopyOptions,
                     *, ignore: Any = None, where: str | None = None,
                     unpack: Callable[[Selected, str, Callable[[], str]], bool] | None = None) -> CopyResult:
    """Copy ``selected`` sources to container path ``dest`` in ``rootfs`` with Docker's rules.

    ``unpack(sel, dest, make_dest_dir)`` (ADD) may take over a file source (an archive): it
    calls ``make_dest_dir()`` for the host path of the destination directory and returns True."""
    dest_path = container_join(workdir or "/", dest)
    dest_is_dir = names_directory(dest)
    if len(selected) > 1 or any(s.is_dir and False for s in selected):
        if not dest_is_dir:
            existing = resolve_in_root(rootfs, dest_path)
            if not os.path.isdir(existing):
                raise UserError("when copying several sources, the destination must be a directory "
                                f"and end with a /: {dest}", where=where)
            dest_is_dir = True
    if not dest_is_dir:
        existing = resolve_in_root(rootfs, dest_path)
        if os.path.isdir(existing):
            dest_is_dir = True
    result = CopyResult()
    dest_clean = dest_path.rstrip("/") or "/"
    for sel in selected:
        if opts.parents:
            _copy_with_parents(rootfs, sel, dest_clean, opts, ignore, result)
            continue
        if sel.is_dir:
            target_dir = _makedirs(rootfs, dest_clean, opts)
            _copy_tree(rootfs, sel, target_dir, dest_clean, opts, ignore, result, top_meta=False)
            continue
        # an archive unpacks into the destination as a directory, with or without a
        # trailing slash (Docker, BuildKit and buildah agree)
        if unpack is not None and unpack(sel, dest_clean, lambda: _makedirs(rootfs, dest_clean, opts)):
            continue
        if dest_is_dir:
            parent_host = _makedirs(rootfs, dest_clean, opts)
            name = posixpath.basename(sel.rel) or os.path.basename(sel.host)
        else:
            parent_host = _makedirs(rootfs, posixpath.dirname(dest_clean) or "/", opts)
            name = posixpath.basename(dest_clean)
        st = os.stat(sel.host)
        _copy_entry(sel.host, st, parent_host, name, opts, result)
    return result


def _copy_with_parents(rootfs: str, sel: Selected, dest: str, opts: CopyOptions, ignore: Any,
                       result: CopyResult) -> None:
    """``COPY --parents a/b/c.txt /dst/`` writes /dst/a/b/c.txt: the source's own path is kept
    (below a ``/./`` pivot, if the source has one: ``a/./b/c.txt`` writes /dst/b/c.txt)."""
    rel = sel.rel[len(sel.pivot):].lstrip("/") if sel.pivot and sel.rel.startswith(sel.pivot) else sel.rel
    target = posixpath.join(dest, rel) if rel else dest
    if sel.is_dir:
        _copy_tree(rootfs, sel, _makedirs(rootfs, target, opts), target, opts, ignore, result, top_meta=False)
        return
    parent = _makedirs(rootfs, posixpath.dirname(target) or "/", opts)
    _copy_entry(sel.host, os.stat(sel.host), parent, posixpath.basename(target), opts, result)


def _makedirs(rootfs: str, path: str, opts: CopyOptions) -> str:
    """Destination directories a COPY creates are 0755 and owned by --chown's owner (buildah)."""
    uid, gid = opts.owner or (0, 0)
    return makedirs_in_root(rootfs, path, 0o755, uid, gid)


def _copy_tree(rootfs: str, sel: Selected, target_dir: str, dest_container: str, opts: CopyOptions,
               ignore: Any, result: CopyResult, *, top_meta: bool) -> None:
    dirs: list[tuple[str, os.stat_result]] = []
    dir_hosts: dict[str, str] = {"": target_dir}
    for e in walk_source(sel, ignore, opts.exclude):
        if e.rel == "":
            dirs.append((target_dir, e.st))
            continue
        parent_rel, _, name = e.rel.rpartition("/")
        parent_host = dir_hosts.get(parent_rel)
        if parent_host is None:  # parent was excluded but this entry re-included
            parent_host = makedirs_in_root(rootfs, posixpath.join(dest_container, parent_rel))
            dir_hosts[parent_rel] = parent_host
        if stat.S_ISDIR(e.st.st_mode):
            host = os.path.join(parent_host, name)
            if os.path.islink(host):
                # an existing symlink in the image: follow it inside the root, as Docker does
                host = resolve_in_root(rootfs, posixpath.join(dest_container, e.rel))
            if not os.path.isdir(host):
                if os.path.lexists(host):
                    os.unlink(host)
                os.mkdir(host, 0o700)
            dir_hosts[e.rel] = host
            dirs.append((host, e.st))
        else:
            _copy_entry(e.host, e.st, parent_host, name, opts, result)
    # directory metadata last (mtimes would change while filling them)
    for host, st in reversed(dirs):
        if host == target_dir and not top_meta:
            continue
        _apply_meta(host, st, opts, is_dir=True, symlink=False)


def _copy_entry(src: str, st: os.stat_result, parent_host: str, name: str, opts: CopyOptions,
                result: CopyResult) -> None:
    _check_name(name)
    dst = os.path.join(parent_host, name)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        copy_regular(src, st, dst, _owner(st, opts), _mode(st, opts, is_dir=False))
        result.files += 1
        result.bytes += st.st_size
        return
    _clear(dst, st)
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
        _apply_meta(dst, st, opts, is_dir=False, symlink=True)
        result.files += 1
    elif stat.S_ISDIR(mode):
        os.makedirs(dst, exist_ok=True)
        _apply_meta(dst, st, opts, is_dir=True, symlink=False)
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, mode, st.st_rdev)
        _apply_meta(dst, st, opts, is_dir=False, symlink=False)
    # sockets are skipped, as Docker does


def _check_name(name: str) -> None:
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeContentError(f"invalid destination name {name!r}")


def _clear(dst: str, st: os.stat_result) -> None:
    """Make room at ``dst`` for an entry of ``st``'s type: what the image has there goes (a
    directory stays for a directory)."""
    if os.path.lexists(dst):
        if os.path.isdir(dst) and not os.path.islink(dst):
            if not stat.S_ISDIR(st.st_mode):
                _rmtree(dst)
        else:
            os.unlink(dst)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_regular(src: str, st: os.stat_result, dst: str, owner: tuple[int, int] | None, mode: int) -> None:
    """Copy regular file ``src`` (as ``st`` describes it) to a new ``dst``, then set owner,
    mode and times through the open descriptor: about seven system calls a file, none of
    them a path lookup after the two opens (issue 19: 20000 files)."""
    in_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            out_fd = os.open(dst, _CREATE, 0o600)
        except FileExistsError:  # something of the image's is there: replace it
            _clear(dst, st)
            out_fd = os.open(dst, _CREATE, 0o600)
        try:
            remaining = st.st_size
            offset = 0
            while remaining > 0:
                n = os.sendfile(out_fd, in_fd, offset, min(remaining, 1 << 30))
                if n == 0:
                    break
                offset += n
                remaining -= n
            if owner is not None:
                os.fchown(out_fd, *owner)
            os.fchmod(out_fd, mode)  # after the chown, which clears setuid bits
            os.utime(out_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(out_fd)
    finally:
        os.close(in_fd)


def _owner(st: os.stat_result, opts: CopyOptions) -> tuple[int, int] | None:
    """The owner an entry gets (None: not root, so none can be set)."""
    if os.geteuid() != 0:
        return None
    if opts.owner is not None:
        return opts.owner
    return (st.st_uid, st.st_gid) if opts.keep_owner else (0, 0)


def _mode(st: os.stat_result, opts: CopyOptions, *, is_dir: bool) -> int:
    mode = stat.S_IMODE(st.st_mode)
    return opts.chmod(mode, is_dir) if opts.chmod is not None else mode


def _apply_meta(path: str, st: os.stat_result, opts: CopyOptions, *, is_dir: bool, symlink: bool) -> None:
    owner = _owner(st, opts)
    if owner is not None:
        os.lchown(path, *owner)
    if not symlink:
        os.chmod(path, _mode(st, opts, is_dir=is_dir))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path)


def write_file_into_rootfs(rootfs: str, dest: str, workdir: str, name: str, data: bytes,
                           opts: CopyOptions, mode: int = 0o644, mtime: float | None = None) -> str:
    """Write inline content (a COPY heredoc) as ``dest`` (a directory when it ends in /)."""
    dest_path = container_join(workdir or "/", dest)
    existing = resolve_in_root(rootfs, dest_path)
    if names_directory(dest) or os.path.isdir(existing):
        parent = makedirs_in_root(rootfs, dest_path.rstrip("/") or "/")
        target_name = name
    else:
        parent = makedirs_in_root(rootfs, posixpath.dirname(dest_path) or "/")
        target_name = posixpath.basename(dest_path)
    dst = os.path.join(parent, target_name)
    if os.path.lexists(dst) and not os.path.isdir(dst):
        os.unlink(dst)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    final_mode = opts.chmod(mode, False) if opts.chmod else mode
    os.chmod(dst, final_mode)
    if os.geteuid() == 0:
        uid, gid = opts.owner or (0, 0)
        os.lchown(dst, uid, gid)
    if mtime is not None:
        os.utime(dst, (mtime, mtime), follow_symlinks=False)
    return dst


def context_path(context: str | Path) -> str:
    """The absolute, symlink-resolved build context directory (itself may be a symlink)."""
    p = os.path.realpath(context)
    if not os.path.isdir(p):
        raise ContextError(f"build context {context} is not a directory")
    return p
