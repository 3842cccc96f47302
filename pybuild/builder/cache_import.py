"""``--cache-from``: steps answered by a remote cache, their layers fetched only when needed.

A step that misses the local cache asks each source in order (first hit wins). A hit costs
its config blob (small); its new layer is registered with the store as fetchable
(``Store.layer_sources``) and downloaded only when a later step mounts it or the final image
needs it, so a chain of hits pulls nothing but metadata until the first miss.

Nothing from a source is trusted: the table must parse; a hit's config must carry the
layers the entry claims, extend the current stage's layers by exactly what the step makes,
and end with the history line this step writes (a key pointing at another step's result is
refused); a layer's blob is verified (digest, size) before it is unpacked, unpacked inside
its root only, and its diff_id re-checked. A refused hit is a miss; a layer that fails
after its hit was used raises :class:`CacheEntryRejected`, and the build starts over
without it (the steps it ran meanwhile are in the local cache by then). A source that
cannot be reached or refuses us is one warning, and the build goes on without it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder import cache_format as fmt
from pybuild.builder.cache_remote import Backend, open_backend, tag_of
from pybuild.builder.cache_spec import PER_KEY, CacheLocation
from pybuild.builder.records import CacheEntry, digests
from pybuild.errors import BuildError, PybuildError
from pybuild.events import INFO, WARNING, emit
from pybuild.oci.spec import MAX_DOCUMENT_SIZE

if TYPE_CHECKING:
    from pybuild.builder.step_context import I, StageState, StepContext
    from pybuild.builder.steps import Handler
    from pybuild.oci import spec


class CacheEntryRejected(BuildError):
    """A remote cache entry's layer turned out bad after its hit was used: build again without it."""

    def __init__(self, diff_id: str, reason: str) -> None:
        super().__init__(f"remote cache layer {diff_id[:19]} rejected: {reason}")
        self.diff_id = diff_id


class Source:
    """One ``--cache-from`` location: its table read once (BUNDLE, LOCAL) or a tag per key."""

    def __init__(self, loc: CacheLocation, registry_options: dict[str, Any]) -> None:
        self.loc = loc
        self._options = registry_options
        self.backend: Backend | None = None
        self.table: fmt.Table | None = None
        self.disabled = False
        self.hits = 0

    def _open(self) -> Backend:
        if self.backend is None:
            self.backend = open_backend(self.loc, self._options, write=False)
        return self.backend

    def entry(self, key: str) -> tuple[fmt.Entry, fmt.Table] | None:
        """The entry for ``key`` and the table it came from; raises on an unreachable source."""
        if self.loc.kind == PER_KEY:
            raw = self._open().get_manifest(key)
            if raw is None:
                return None
            table = fmt.parse_table(raw, f"{self.loc.ref}:{key[:12]}")
        else:
            table = self.load()
        e = table.entries.get(key)
        return (e, table) if e is not None else None

    def load(self) -> fmt.Table:
        if self.table is None:
            raw = self._open().get_manifest(tag_of(self.loc))
            self.table = fmt.Table() if raw is None else fmt.parse_table(raw, self.loc.display)
        return self.table


class RemoteCache:
    """The build's ``--cache-from`` sources, in order; one per build."""

    def __init__(self, b: StepContext, sources: list[CacheLocation], ttl: float = 0.0) -> None:
        self.b = b
        self.sources = [Source(loc, b.opts.registry) for loc in sources]
        self.ttl = ttl
        self.rejected: set[str] = set()  # diff_ids that failed once: never used again this build
        self.fetched = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lookup

    def _failed(self, src: Source, e: Exception) -> None:
        src.disabled = True
        msg = e.message if isinstance(e, PybuildError) else str(e)
        emit(self.b.on_event, WARNING, f"cache source {src.loc.display} not used: {msg}")

    def _fresh(self, e: fmt.Entry) -> bool:
        return not self.ttl or time.time() - e.created <= self.ttl

    def lookup(self, st: StageState, key: str, instr: I, handler: Handler[I]) -> CacheEntry | None:
        """The first source's usable hit for ``key`` (``source`` names where it came from)."""
        for src in self.sources:
            if src.disabled:
                continue
            try:
                found = src.entry(key)
            except (PybuildError, OSError) as e:
                self._failed(src, e)
                continue
            if found is None or not self._fresh(found[0]):
                continue
            entry, table = found
            try:
                hit = self._accept(src, st, entry, table, instr, handler)
            except (PybuildError, OSError) as e:
                emit(self.b.on_event, WARNING, f"cache entry {key[:12]} from {src.loc.display} refused: "
                     f"{e.message if isinstance(e, PybuildError) else e}")
                continue
            if hit is not None:
                src.hits += 1
                return hit
        return None

    def _accept(self, src: Source, st: StageState, entry: fmt.Entry, table: fmt.Table, instr: I,
                handler: Handler[I]) -> CacheEntry | None:
        from pybuild.errors import IntegrityError
        from pybuild.oci.spec import ImageConfig

        store = self.b.store
        have = list(st.container.layers)
        if entry.layers[:len(have)] != have:
            return None  # built on another result of an earlier step (one that ran here): a miss
        new = entry.layers[len(have):]
        if len(new) != (1 if handler.makes_layer else 0):
            raise IntegrityError(f"it adds {len(new)} layers where this step makes "
                                 f"{1 if handler.makes_layer else 0}")
        if any(d in self.rejected for d in new):
            return None
        for d in new:
            if not store.has_layer(d) and d not in table.layers:
                raise IntegrityError(f"layer {d[:19]} has no blob in the cache")
        desc = table.blobs[entry.config]
        if desc.size > MAX_DOCUMENT_SIZE:  # a config is a few KiB: a huge one is an attack
            raise IntegrityError(f"its config claims {desc.size} bytes")
        assert src.backend is not None
        with src.backend.open_blob(desc) as stream:
            store.layout.put_blob(stream, desc.digest, desc.size)  # visible only once verified
        config = ImageConfig.from_json(store.layout.read_blob(desc.digest, desc.size))
        if [str(x) for x in config.rootfs_diff_ids] != entry.layers:
            raise IntegrityError("its config lists other layers than the entry")
        want = handler.created_by(st, instr)
        if (len(config.history) != len(st.config.history) + 1
                or config.history[-1].created_by != want):
            raise IntegrityError("its config's history is another step's")
        for d in new:
            if not store.has_layer(d):
                store.layer_sources[d] = self._fetcher(src, table.layers[d])
        return CacheEntry(digests(entry.layers), desc.digest, source=src.loc.display)

    # ------------------------------------------------------------------ layers, when needed

    def _fetcher(self, src: Source, desc: spec.Descriptor) -> _LazyLayer:
        return _LazyLayer(self, src, desc)

    def _fetch(self, src: Source, desc: spec.Descriptor, diff_id: str) -> Path:
        from pybuild.builder.records import BlobRef, TarOptions
        from pybuild.builder.store import remove_tree
        from pybuild.errors import IntegrityError
        from pybuild.oci.layer import apply_layer
        from pybuild.oci.spec import compression_of, is_layer

        store = self.b.store
        if not is_layer(desc.media_type):
            raise IntegrityError(f"{desc.media_type} is not a layer type")
        assert src.backend is not None
        store.hold(blobs=[str(desc.digest)], layers=[diff_id])
        with src.backend.open_blob(desc) as stream:
            store.layout.put_blob(stream, desc.digest, desc.size)
        staging = store.scratch_dir("unpack")
        try:
            (staging / "diff").mkdir()
            with store.layout.open_blob(desc.digest, desc.size) as blob:
                got = apply_layer(blob, staging / "diff", whiteouts="overlay")
            if got != diff_id:
                raise IntegrityError(f"its blob unpacks to {got}")
            blobs = {compression_of(desc.media_type): BlobRef(desc.digest, desc.size, desc.media_type)}
            size = sum(p.lstat().st_size for p in (staging / "diff").rglob("*"))
            store.adopt_layer(staging / "diff", diff_id, size=size, tar_options=TarOptions(exact=False), blobs=blobs)
        finally:
            remove_tree(staging)
        emit(self.b.on_event, INFO, f"--> fetched layer {diff_id[7:19]} from {src.loc.display}")
        return store.layer_dir(diff_id) / "diff"

    # ------------------------------------------------------------------ explaining

    def explain(self, parent: str, key: str, inputs: dict[str, Any]) -> str:
        """For ``--explain-cache``: per source, whether the key was absent or an input changed."""
        from pybuild.builder.cache import closest_change

        out = []
        mine = fmt.hash_inputs(inputs)
        for src in self.sources:
            if src.disabled:
                out.append(f"{src.loc.display}: not reachable")
                continue
            if src.loc.kind == PER_KEY:
                out.append(f"{src.loc.display}: key {key[:12]} absent remotely")
                continue
            try:
                table = src.load()
            except (PybuildError, OSError):
                out.append(f"{src.loc.display}: not readable")
                continue
            if key in table.entries:
                out.append(f"{src.loc.display}: entry present but not usable (built on another result "
                           "of an earlier step, refused, or past --cache-ttl)")
                continue
            children = [e.inputs for e in table.children(parent)]
            if not children:
                out.append(f"{src.loc.display}: absent remotely (nothing cached after the previous step)")
            else:
                out.append(f"{src.loc.display}: {closest_change(mine, children)}")
        return "; ".join(out)

    def summary(self) -> str | None:
        used = [s for s in self.sources if s.backend is not None]
        if not used:
            return None
        pulled = sum(s.backend.pulled for s in used if s.backend)
        requests = sum(s.backend.requests for s in used if s.backend)
        hits = sum(s.hits for s in used)
        return (f"--> cache from: {hits} steps, {self.fetched} layers fetched, {pulled} bytes pulled "
                f"in {requests} requests")

    def close(self) -> None:
        for s in self.sources:
            if s.backend is not None:
                s.backend.close()


class _LazyLayer:
    """A layer a hit named: fetched, verified and unpacked on first use (``Store.layer_sources``)."""

    def __init__(self, cache: RemoteCache, src: Source, desc: spec.Descriptor) -> None:
        self.cache, self.src, self.descriptor = cache, src, desc

    def __call__(self, diff_id: str) -> Path:
        c = self.cache
        with c._lock:
            if c.b.store.has_layer(diff_id):
                return c.b.store.layer_dir(diff_id) / "diff"
            try:
                path = c._fetch(self.src, self.descriptor, diff_id)
            except (PybuildError, OSError) as e:
                c.rejected.add(diff_id)
                raise CacheEntryRejected(diff_id, e.message if isinstance(e, PybuildError) else str(e)) from e
            c.fetched += 1
            return path
