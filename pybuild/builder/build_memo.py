"""The build memo: a fully cached `bud` answered without starting the engine (issue 19).

A CI pipeline runs the same `bud` on an unchanged tree again and again; every step hits the
cache and the whole cost is starting Python and importing the engine. After such a build
(every step a cache hit, nothing pulled, no RUN, no step keyed on a URL or a git ref, plain or
quiet output) the command line's memo records what it printed, the image ID, and the identity
(lstat: device, inode, mode, size, mtime, ctime) of everything the answer rests on: every entry
of the context tree, the Containerfile, ignore and --build-arg-file files wherever they are,
the store's image records, and the cache entries, layers and config blobs its hits used.

The next run of the same command line (argv, working directory, environment, user and
pybuild version: the memo's key) looks its memo up before importing anything but the standard
library; when every recorded identity still holds it writes --iidfile, prints the recorded
output and exits 0. Any difference, a missing memo or an unreadable input, and the engine runs
as always (and records afresh). The store's writers rename files into place, so a changed
record, entry or blob has a new inode; a context file changed within a second before the
build started could keep its timestamp tick, so such a build records no memo.
``PYBUILD_BUILD_MEMO=0`` turns the memo off (no answer, no record).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time

TYPE_CHECKING = False  # typing is not imported on the fast path (mypy reads this name as typing's)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, TextIO

    from pybuild.oci.digest import Digest

FORMAT = 1
RACY_NS = 1_000_000_000  # a file changed this close before the build started records no memo
MAX_TRANSCRIPT = 1 << 20  # characters a memo replays, at most
MAX_MEMOS = 256  # per store: the oldest go (a tag per CI run makes a command line per run)
_VOLATILE_ENV = frozenset({"_", "OLDPWD", "PWD", "SHLVL"})  # the shell's, never read by pybuild
_VERBS = ("bud", "build")
_GLOBAL_FLAGS = ("--root", "--storage-driver", "--storage-opt", "--log-level")
_QUIET_LEVELS = ("warn", "error", "fatal", "panic")  # debug, info, trace print more than the memo holds
_ACTIVE: Recorder | None = None


def enabled() -> bool:
    return os.environ.get("PYBUILD_BUILD_MEMO", "1") != "0"


def store_of(argv: Sequence[str]) -> str | None:
    """The store root of a `[GLOBAL FLAGS] bud|build ...` command line, or None when it is
    another verb or has global flags the memo does not read (then the engine runs)."""
    root: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VERBS:
            if root is None:
                from pybuild.builder.store_root import default_root

                root = default_root()
            return root
        name, eq, value = arg.partition("=")
        if name not in _GLOBAL_FLAGS:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            i += 1
            value = argv[i]
        if name == "--root":
            root = value
        elif name == "--log-level" and value not in _QUIET_LEVELS:
            return None
        i += 1
    return None


def command_key(argv: Sequence[str]) -> str:
    """What makes two runs the same command: argv, cwd, environment, user, pybuild version."""
    from pybuild import __version__

    env = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_ENV)
    doc = json.dumps({"format": FORMAT, "version": __version__, "argv": list(argv), "cwd": os.getcwd(),
                      "user": [os.geteuid(), os.getegid(), sorted(os.getgroups())], "env": env},
                     separators=(",", ":"))
    return hashlib.sha256(doc.encode("utf-8", "surrogateescape")).hexdigest()


def memo_path(root: str, key: str) -> str:
    return os.path.join(root, "memo", key + ".json")


def identity(path: str) -> list[int] | None:
    """A file's lstat identity (and its target's, for a symlink); None when it is absent."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    out = [st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    if stat.S_ISLNK(st.st_mode):  # a -f or --ignorefile given as a link: what it points at counts
        try:
            t = os.stat(path)
        except OSError:
            return out + [-1]
        out += [t.st_dev, t.st_ino, t.st_mode, t.st_size, t.st_mtime_ns, t.st_ctime_ns]
    return out


def tree_digest(root: str, skip: Iterable[str] = ()) -> tuple[str, int]:
    """sha256 over the lstat identity of ``root`` and every entry under it (``skip``: paths
    left out, the build's own output files), and the newest ctime/mtime seen. A directory
    counts by its entries and mode, not its times: they move when --iidfile is made inside
    the context, and every entry added, removed or replaced is in the listing. Owners are
    left out (a rootless build sees them mapped; a COPY's owner is never the source's) and a
    file's chown moves its ctime anyway."""
    skipped = set(skip)
    h = hashlib.sha256()
    top = os.lstat(root)
    newest = 0
    h.update(f"{top.st_dev} {top.st_ino} {top.st_mode}\n".encode())
    dirs = [root]
    while dirs:
        d = dirs.pop()
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.path in skipped:
                continue
            st = e.stat(follow_symlinks=False)
            h.update(os.fsencode(e.path))
            h.update(f" {st.st_dev} {st.st_ino} {st.st_mode}".encode())
            if stat.S_ISDIR(st.st_mode):
                h.update(b"\n")
                dirs.append(e.path)
                continue
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
            h.update(f" {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}\n".encode())
    return h.hexdigest(), newest


def _ttys(streams: tuple[Any, Any]) -> list[bool]:
    """Whether (stdout, stderr) are terminals: a memo answers only the display it recorded."""
    return [_isatty(streams[0]), _isatty(streams[1])]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _holds(memo: dict[str, Any], key: str) -> bool:
    """Whether every identity the memo rests on is still what it recorded."""
    if not isinstance(memo, dict) or not all(  # a torn or foreign file: the engine answers
            isinstance(c, list) and len(c) == 2 and c[0] in (1, 2) and isinstance(c[1], str)
            for c in memo.get("transcript", ())):
        return False
    if memo.get("format") != FORMAT or memo.get("key") != key or memo.get("tty") != _ttys((sys.stdout, sys.stderr)):
        return False
    for path, ident in memo["files"]:
        if identity(path) != ident:
            return False
    return all(tree_digest(root, skip)[0] == digest for root, skip, digest in memo["trees"])


def answer(argv: Sequence[str]) -> bool:
    """The fast path: when this command line's memo holds, do what the build would (write
    --iidfile, print its output) and return True; else False and nothing was done."""
    if not enabled():
        return False
    root = store_of(argv)
    if root is None:
        return False
    key = command_key(argv)
    try:
        with open(memo_path(root, key), "rb") as f:
            memo = json.loads(f.read())
        if not _holds(memo, key):
            return False
        if memo["iidfile"]:
            with open(memo["iidfile"], "w") as f:
                f.write("sha256:" + memo["image"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for fd, text in memo["transcript"]:
        stream = sys.stdout if fd == 1 else sys.stderr
        stream.write(text)
        stream.flush()
    return True


class _Tee:
    """A text stream that keeps what is written to it, in order with its twin's, while the
    build may still be memoized (a long RUN's output is not kept)."""

    def __init__(self, stream: TextIO, fd: int, recorder: Recorder) -> None:
        self._stream, self._fd, self._recorder = stream, fd, recorder

    def write(self, text: str) -> int:
        written = self._stream.write(text)  # (click probes with bytes, which a text stream refuses)
        self._recorder.keep(self._fd, text)
        return written

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding... as the stream's
        return getattr(self._stream, name)


class Recorder:
    """Watches one `bud` (its events and what it prints); :meth:`finish` writes its memo
    when the build was one the memo may answer."""

    def __init__(self, argv: Sequence[str], root: str) -> None:
        self.root = root
        self.key = command_key(argv)  # before the build runs (it sets variables for its children)
        self.started_ns = time.time_ns()
        self.chunks: list[tuple[int, str]] = []
        self.ok = True  # still a build the memo may answer
        self.hits: list[str] = []
        self.names: list[str] = []
        self.steps: dict[tuple[Any, Any], str] = {}
        self.inputs: dict[str, Any] | None = None
        self.image: str | None = None
        self._streams = (sys.stdout, sys.stderr)
        self.kept = 0
        sys.stdout = _Tee(sys.stdout, 1, self)
        sys.stderr = _Tee(sys.stderr, 2, self)

    def keep(self, fd: int, text: str) -> None:
        if not self.ok:
            return
        self.kept += len(text)
        if self.kept > MAX_TRANSCRIPT:
            self.fail()
        else:
            self.chunks.append((fd, text))

    def fail(self) -> None:
        """Not a build the memo may answer: keep nothing more."""
        self.ok = False
        self.chunks.clear()

    def restore(self) -> None:
        sys.stdout, sys.stderr = self._streams

    def watch(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """``callback`` with the build's events seen on the way."""
        def on_event(event: Any) -> None:
            self._see(event)
            callback(event)
        return on_event

    def _see(self, event: Any) -> None:
        kind, data = event.kind, event.data
        if kind in ("output", "blob"):  # a RUN ran, a blob moved: not a fully cached build
            self.fail()
        elif kind == "step":
            self.steps[(data.get("stage"), data.get("step"))] = event.message
        elif kind == "cache-hit":
            self.hits.append(str(data.get("key")))
        elif kind == "step-done" and not data.get("cached"):
            # only a FROM is done without a cache hit, and prints its time: 0.0s on a replay too
            title = self.steps.get((data.get("stage"), data.get("step")), "")
            instruction = title.partition(": ")[2].lstrip().upper()
            if not instruction.startswith("FROM ") or float(data.get("duration") or 0) >= 0.05:
                self.fail()
        elif kind == "image":
            self.names = [str(n) for n in data.get("names", [])]

    def describe(self, request: dict[str, Any], *, context: str, file: str | None, text: str | None,
                 multi: bool, mode: str, logfile: str | None) -> None:
        """What the command asked (``request``: :func:`pybuild.build`'s keywords), once its flags
        parsed; ``mode``: the progress display it prints with."""
        if (not simple_request(request, text=text, multi=multi) or logfile or mode not in ("plain", "quiet")
                or not os.path.isdir(context) or (file or "").endswith(".in")):  # cpp may #include any file
            self.fail()
            return
        ignorefile, iidfile = request.get("ignorefile"), request.get("iidfile")
        build_arg_files = request.get("build_arg_files") or ()
        files: list[str] = []  # (the context's own Containerfile and ignore files are in its tree)
        if file:
            for f in (file, os.path.join(context, file)):
                files += [f, f + ".containerignore", f + ".dockerignore"]
        files += [p for p in (ignorefile, *build_arg_files) if p]
        self.inputs = {"context": os.path.abspath(context), "files": files,
                       "iidfile": os.path.abspath(iidfile) if iidfile else None}

    def built(self, image_id: str) -> None:
        self.image = image_id

    def finish(self) -> None:
        """The command succeeded: write the memo if the build was one it may answer."""
        self.restore()
        if not (self.ok and self.inputs and self.image and enabled()):
            return
        try:
            memo = self._memo()
        except Exception:  # noqa: BLE001 -- an optimization: no memo, and the engine answers next time
            return
        if memo is None:
            return
        from pybuild.fsutil import atomic_write, make_dirs

        path = memo_path(self.root, memo["key"])
        try:
            make_dirs(os.path.dirname(path))
            atomic_write(path, json.dumps(memo).encode("utf-8", "surrogateescape"), 0o600, durable=False)
            _trim(os.path.dirname(path))
        except OSError:
            return

    def _memo(self) -> dict[str, Any] | None:
        assert self.inputs is not None and self.image is not None
        root = self.root
        store_files = [os.path.join(root, "images.json"), _blob(root, self.image)]
        layers: set[Digest] = set()
        from pybuild.builder.cache import entry_file
        from pybuild.builder.records import CacheEntry

        for key in self.hits:
            path = str(entry_file(root, key))
            with open(path, "rb") as f:
                entry = CacheEntry.from_json(json.loads(f.read()))
            if _reads_remote(entry.inputs):
                return None  # a URL or git ref counts by what it serves now: ask it each time
            store_files += [path, _blob(root, entry.config)]
            layers.update(entry.layers)
        store_files += [os.path.join(root, "layers", d.hex, "info.json") for d in sorted(layers)]
        before = [identity(p) for p in store_files]
        if None in before or not self._tagged(root):
            return None
        racy = self.started_ns - RACY_NS
        # the lists a FROM may name, and the layout's index: absent is an identity too
        files = [[p, identity(p)] for p in (*self.inputs["files"], os.path.join(root, "manifest-lists.json"),
                                            os.path.join(root, "index.json"))]
        if any(ident is not None and max(ident[4], ident[5]) >= racy for _, ident in files):
            return None
        skip = [self.inputs["iidfile"]] if self.inputs["iidfile"] else []
        digest, newest = tree_digest(self.inputs["context"], skip)
        if newest >= racy or [identity(p) for p in store_files] != before:
            return None
        return {"format": FORMAT, "key": self.key, "image": self.image, "tty": _ttys(self._streams),
                "iidfile": self.inputs["iidfile"], "transcript": self.chunks,
                "files": files + [[p, i] for p, i in zip(store_files, before, strict=True)],
                "trees": [[self.inputs["context"], skip, digest]]}

    def _tagged(self, root: str) -> bool:
        """Whether the store's records still give every name this build tagged to its image."""
        from pybuild.builder.store import normalize_name

        with open(os.path.join(root, "images.json"), "rb") as f:
            records = json.loads(f.read())
        mine = next((r for r in records if r.get("id") == self.image), None)
        return mine is not None and all(normalize_name(n) in mine.get("names", []) for n in self.names)


def _trim(directory: str, keep: int = MAX_MEMOS) -> None:
    """Remove the least recently written memos beyond ``keep``."""
    names = [n for n in os.listdir(directory) if n.endswith(".json")]
    if len(names) <= keep:
        return
    def written(name: str) -> int:
        try:
            return os.stat(os.path.join(directory, name)).st_mtime_ns
        except FileNotFoundError:
            return 0
    for name in sorted(names, key=written)[: len(names) - keep]:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def _blob(root: str, digest: str) -> str:
    algorithm, _, hex_ = digest.rpartition(":")
    return os.path.join(root, "blobs", algorithm or "sha256", hex_)


def _reads_remote(inputs: dict[str, Any]) -> bool:
    """Whether a step's cache inputs name a URL or a git source (COPY/ADD ``sources`` parts)."""
    return any(isinstance(part, list) and part and part[0] in ("url", "git") for part in inputs.get("sources") or [])


def begin(argv: Sequence[str]) -> Recorder | None:
    """Start watching this process's command when it is a `bud` the memo could answer later."""
    global _ACTIVE
    if not enabled():
        return None
    root = store_of(argv)
    if root is None:
        return None
    _ACTIVE = Recorder(argv, root)
    return _ACTIVE


def build_memo_recorder() -> Recorder | None:
    """The recorder of this process's command line, if :func:`begin` started one."""
    return _ACTIVE


def simple_request(request: dict[str, Any], *, text: str | None, multi: bool) -> bool:
    """Whether a bud request asks only what a memo can answer: a local directory context and
    Containerfile, the local cache, no outputs beyond the store and --iidfile, no secrets or
    forwarded agents (their sources are read and checked by the engine)."""
    if text is not None or multi or request.get("context_stream") is not None:
        return False
    if request.get("no_cache") or not request.get("layers", True) or request.get("squash"):
        return False
    if str(request.get("pull") or "missing").lower() not in ("missing", "ifmissing", "never", "false"):
        return False
    asked = ("cpp_flags", "build_contexts", "cache_from", "cache_to", "outputs", "secrets", "ssh", "attest",
             "manifest", "sbom", "sbom_output", "sbom_purl_output", "provenance", "explain_cache")
    return not any(request.get(name) for name in asked)
