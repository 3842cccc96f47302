"""An OCI image layout on disk, safe against strangers' layouts and concurrent use.

Writes follow umoci's rules: a blob is written aside inside the layout
(``blobs/.tmp-*``, same filesystem), hashed while it is written, checked against the
expected digest *and* size, fsynced and only then renamed into place; on any
mismatch nothing is left behind. ``index.json`` is replaced atomically
(tmp + fsync + rename) while holding an ``flock`` on ``index.json.lock``, so
several processes may read a layout while one writes it.

Reads never follow symlinks: every path component below the layout root is opened
with ``O_NOFOLLOW`` relative to its parent directory, and a blob must be a regular
file (a FIFO or a link to ``/etc/passwd`` is refused).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from pybuild.errors import DigestMismatch, ImageNotFound, IntegrityError, StoreError
from pybuild.fsutil import (
    FileLock,
    atomic_file,
    atomic_write,
    disk_full,
    fsync_dir,
    is_disk_full,
    make_dirs,
    tmp_prefix,
)
from pybuild.oci.digest import CHUNK, Digest, HashingWriter, VerifyingReader
from pybuild.oci.spec import (
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOCUMENT_SIZE,
    OCI_INDEX,
    Descriptor,
    Index,
    Manifest,
    guess_media_type,
    load_json,
    parse_manifest,
)

LAYOUT_VERSION = "1.0.0"
MAX_INDEX_SIZE = 64 << 20  # our own index.json may list many images


def atomic_write_file(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, rename over it, fsync the dir."""
    atomic_write(path, data, mode)


def open_regular_beneath(root: str | os.PathLike[str], relpath: str) -> BinaryIO:
    """Open ``root/relpath`` for reading without following any symlink below ``root``.

    Every component is opened relative to its parent with ``O_NOFOLLOW``; the final
    one with ``O_NONBLOCK`` too (so a FIFO cannot hang us) and it must be a regular
    file. Raises FileNotFoundError when absent, IntegrityError when unsafe.
    """
    parts = [p for p in relpath.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise IntegrityError(f"{root}: refusing path {relpath!r}")
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise IntegrityError(f"{root}/{relpath}: {part} is not a directory (symlink?)") from None
                raise
            os.close(dirfd)
            dirfd = nfd
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise IntegrityError(f"{root}/{relpath}: is a symlink, refusing to follow it") from None
            raise
    finally:
        os.close(dirfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise IntegrityError(f"{root}/{relpath}: not a regular file")
    # back to blocking reads for a regular file
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb")


def write_verified(stream: BinaryIO, directory: str | os.PathLike[str], final_name: str,
                   digest: Digest | None = None, size: int | None = None,
                   algorithm: str = "sha256", where: str = "",
                   check: Callable[[], None] | None = None,
                   before_rename: Callable[[Digest], None] | None = None,
                   settle: bool = True) -> tuple[Digest, int, bool]:
    """Stream into a temp file in ``directory``, verify, fsync, rename to ``final_name``.

    ``final_name`` may contain ``{hex}``, filled in from the computed digest. Returns
    (digest, size, created). A mismatch removes the temp file and raises DigestMismatch.
    ``check``, once the digest is verified, may raise to refuse the blob all the same
    (a layer whose diff_id is wrong). ``before_rename(digest)`` runs once the content is
    verified and checked, before it becomes visible. ``settle=False``: the directory is not
    fsynced after the rename (the content is, before it): the caller settles it before a
    durable record names the blob, and until then a crash may lose the name, never the bytes.
    """
    directory = os.fspath(directory)
    algorithm = digest.algorithm if digest is not None else algorithm
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=tmp_prefix())
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(e, f"{where}blob {digest or ''} in {directory}") from None
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            hw = HashingWriter(f, algorithm)
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                if size is not None and hw.size + len(chunk) > size:
                    raise DigestMismatch(f"{where}blob {digest or ''} is larger than the expected {size} bytes")
                hw.write(chunk)
            if size is not None and hw.size != size:
                raise DigestMismatch(f"{where}blob {digest or ''}: got {hw.size} bytes, expected {size}")
            got = hw.digest
            if digest is not None and got != digest:
                raise DigestMismatch(f"{where}blob content has digest {got}, expected {digest}")
            if check is not None:
                check()
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename(got)
        final = os.path.join(directory, final_name.format(hex=got.hex))
        created = not os.path.lexists(final)
        os.rename(tmp, final)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e):
            raise disk_full(e, f"blob {digest or ''} in {directory}") from None  # type: ignore[arg-type]
        raise
    if settle:
        fsync_dir(os.path.dirname(final))
    return got, hw.size, created


class Layout:
    """An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/ALG/HEX``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = FileLock(self.path / "index.json.lock", 0o644)
        # called with a blob's digest before it is reused or made visible: the store leases it
        # there, so a gc in another process cannot take it before a record refers to it
        self.on_put: Callable[[Digest], None] | None = None

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Layout:
        """Create a layout (or open the one already there, unchanged)."""
        root = Path(path)
        try:
            make_dirs(root / "blobs" / "sha256")
        except OSError as e:
            raise StoreError(f"cannot create OCI layout: {e.strerror}", where=str(root)) from e
        if not (root / "oci-layout").exists():
            atomic_write_file(root / "oci-layout", b'{"imageLayoutVersion":"' + LAYOUT_VERSION.encode() + b'"}')
        layout = cls(root)
        if not (root / "index.json").exists():
            with layout.lock():
                if not (root / "index.json").exists():
                    layout._write_index_locked(Index([]))
        return cls.open(root)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Layout:
        """Open an existing layout, checking its ``oci-layout`` version."""
        root = Path(path)
        try:
            with open_regular_beneath(root, "oci-layout") as f:
                raw = f.read(4096)
        except (FileNotFoundError, NotADirectoryError):
            raise ImageNotFound(f"no OCI image layout at {root}") from None
        doc = load_json(raw, f"{root}/oci-layout", limit=4096)
        version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
        if not isinstance(version, str) or not version.startswith("1."):
            raise IntegrityError(f"unsupported image layout version {version!r}", where=str(root))
        return cls(root)

    def __repr__(self) -> str:
        return f"Layout({str(self.path)!r})"

    # -- blobs --------------------------------------------------------------------------------

    def blob_path(self, digest: Digest | str) -> Path:
        d = Digest(digest)
        return self.path / "blobs" / d.algorithm / d.hex

    def has_blob(self, digest: Digest | str, size: int | None = None) -> bool:
        """Whether the blob is here (a regular file), and of ``size`` bytes when given: a
        blob is reused only when it is what the descriptor says."""
        try:
            st = os.lstat(self.blob_path(digest))
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and (size is None or st.st_size == size)

    def blob_size(self, digest: Digest | str) -> int | None:
        """Size of a stored blob, or None when it is absent (or not a regular file)."""
        try:
            st = os.lstat(self.blob_path(digest))
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def put_blob(self, stream: BinaryIO, digest: Digest | str | None = None,
                 size: int | None = None, check: Callable[[], None] | None = None, *,
                 settle: bool = True) -> tuple[Digest, int]:
        """Store a blob; it becomes visible only once digest (and size) are verified, and
        ``check`` (if given) has not raised (``settle``: see :func:`write_verified`).

        A blob already present with the right size is not rewritten (the stream is
        not read in that case): blobs here were verified when they were written.
        """
        expected = Digest(digest) if digest is not None else None
        algorithm = expected.algorithm if expected else "sha256"
        blobdir = self.path / "blobs" / algorithm
        blobdir.mkdir(parents=True, exist_ok=True)
        if expected is not None:
            if self.on_put is not None:
                self.on_put(expected)
            have = self.blob_size(expected)
            if have is not None and (size is None or have == size):
                return expected, have
        got, n, _ = write_verified(stream, self.path / "blobs", f"{algorithm}/{{hex}}", expected, size,
                                   algorithm, where=f"{self.path}: ", check=check, before_rename=self.on_put,
                                   settle=settle)
        return got, n

    def put_bytes(self, data: bytes, digest: Digest | str | None = None, *,
                  settle: bool = True) -> tuple[Digest, int]:
        import io

        return self.put_blob(io.BytesIO(data), digest or Digest.of_bytes(data), len(data), settle=settle)

    def open_raw(self, digest: Digest | str, size: int | None) -> BinaryIO:
        """The blob's bytes as stored, unverified (for callers that verify while streaming)."""
        d = Digest(digest)
        try:
            f = open_regular_beneath(self.path, f"blobs/{d.algorithm}/{d.hex}")
        except FileNotFoundError:
            raise ImageNotFound(f"blob {d} is not in the OCI layout {self.path}") from None
        if size is not None:
            actual = os.fstat(f.fileno()).st_size
            if actual != size:
                f.close()
                raise DigestMismatch(f"blob {d} in {self.path} has {actual} bytes, expected {size}")
        return f

    def open_blob(self, digest: Digest | str, size: int | None = None) -> VerifyingReader:
        """A reader of a blob that raises DigestMismatch at EOF if its content is not ``digest``."""
        return VerifyingReader(self.open_raw(digest, size), Digest(digest), size)

    def read_blob(self, digest: Digest | str, size: int | None = None,
                  limit: int = MAX_DOCUMENT_SIZE) -> bytes:
        """A small blob (manifest, config) read whole and verified; refuses more than ``limit``."""
        f = self.open_raw(digest, size)
        with f:
            actual = os.fstat(f.fileno()).st_size
            if actual > limit:
                raise IntegrityError(f"blob {digest} in {self.path} is {actual} bytes, over the {limit} limit")
            reader = VerifyingReader(f, Digest(digest), actual if size is None else size)
            return reader.read()

    def list_blobs(self) -> Iterator[Digest]:
        blobs = self.path / "blobs"
        for alg in sorted(os.listdir(blobs)) if blobs.is_dir() else []:
            if alg.startswith(".") or not (blobs / alg).is_dir():
                continue
            for name in sorted(os.listdir(blobs / alg)):
                try:
                    yield Digest(f"{alg}:{name}")
                except IntegrityError:
                    continue

    # -- index --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive flock on ``index.json.lock`` (re-entrant within this object)."""
        with self._lock.hold():
            yield

    def index(self) -> Index:
        try:
            with open_regular_beneath(self.path, "index.json") as f:
                raw = f.read(MAX_INDEX_SIZE + 1)
        except FileNotFoundError:
            raise ImageNotFound(f"no index.json in the OCI layout {self.path}") from None
        if len(raw) > MAX_INDEX_SIZE:
            raise IntegrityError(f"{self.path}/index.json is over {MAX_INDEX_SIZE} bytes")
        doc = load_json(raw, f"{self.path}/index.json", limit=MAX_INDEX_SIZE)
        if isinstance(doc, dict) and "manifests" not in doc and not ({"config", "layers"} & doc.keys()):
            doc["manifests"] = []  # an empty layout written by some tools
            raw = json.dumps(doc).encode()
        try:
            index = parse_manifest(raw, OCI_INDEX) if len(raw) <= MAX_DOCUMENT_SIZE else _parse_big_index(raw)
        except IntegrityError as e:
            raise IntegrityError(f"{self.path}/index.json: {e.message}") from None
        if not isinstance(index, Index):
            raise IntegrityError(f"{self.path}/index.json is not an image index")
        return index

    def _write_index_locked(self, index: Index) -> None:
        if index.media_type != OCI_INDEX:
            index = replace(index, media_type=OCI_INDEX)
        atomic_write_file(self.path / "index.json", index.to_json())

    def write_index(self, index: Index) -> None:
        """Replace ``index.json`` atomically."""
        with self.lock():
            self._write_index_locked(index)

    def resolve(self, ref_name: str | None = None) -> Descriptor:
        """The index entry named ``ref_name``; with no name, the only entry there is."""
        entries = self.index().manifests
        if not ref_name:
            if len(entries) == 1:
                return entries[0]
            raise ImageNotFound(f"the OCI layout {self.path} holds {len(entries)} images; name one")
        for desc in entries:
            if desc.ref_name == ref_name:
                return desc
        raise ImageNotFound(f"no image named {ref_name!r} in the OCI layout {self.path}")

    def refs(self) -> list[str]:
        return [d.ref_name for d in self.index().manifests if d.ref_name]

    def set_ref(self, ref_name: str | None, descriptor: Descriptor) -> None:
        """Point ``ref_name`` at ``descriptor``, replacing any entry of that name.

        With no name, the descriptor is added unnamed (replacing an unnamed entry of
        the same digest).
        """
        annotations = dict(descriptor.annotations or {})
        if ref_name:
            annotations[ANNOTATION_REF_NAME] = ref_name
        else:
            annotations.pop(ANNOTATION_REF_NAME, None)
        desc = descriptor.with_annotations(annotations)
        with self.lock():
            index = self.index()
            if ref_name:
                keep = [d for d in index.manifests if d.ref_name != ref_name]
            else:
                keep = [d for d in index.manifests if d.ref_name or d.digest != desc.digest]
            self._write_index_locked(replace(index, manifests=[*keep, desc]))

    def remove_ref(self, ref_name: str) -> bool:
        with self.lock():
            index = self.index()
            keep = [d for d in index.manifests if d.ref_name != ref_name]
            if len(keep) == len(index.manifests):
                return False
            self._write_index_locked(replace(index, manifests=keep))
            return True

    # -- garbage collection -------------------------------------------------------------------

    def reachable(self, roots: Iterable[Digest | str]) -> set[Digest]:
        """Every blob reachable from ``roots`` through manifests and indexes."""
        seen: set[Digest] = set()
        todo = [Digest(r) for r in roots]
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            if not self.has_blob(d):
                continue
            size = self.blob_size(d) or 0
            if size > MAX_DOCUMENT_SIZE:
                continue
            try:
                raw = self.read_blob(d)
                doc = load_json(raw)
            except (IntegrityError, ImageNotFound):
                continue
            if not isinstance(doc, dict):
                continue
            mt = guess_media_type(doc)
            if mt not in (*MANIFEST_TYPES, *INDEX_TYPES):
                continue
            try:
                parsed = parse_manifest(raw, mt)
            except Exception:  # noqa: BLE001 - a config or odd blob; nothing to walk
                continue
            children = parsed.manifests if isinstance(parsed, Index) else parsed.descriptors()
            if isinstance(parsed, Manifest) and parsed.subject is not None:
                children = [*children, parsed.subject]
            todo.extend(c.digest for c in children)
        return seen

    def gc(self, keep: Iterable[Digest | str] = ()) -> list[Digest]:
        """Remove blobs reachable neither from index.json nor from ``keep``; returns them.

        Run it under the caller's exclusive lock: a blob put but not yet referenced
        by another process would otherwise be collected.
        """
        removed: list[Digest] = []
        with self.lock():
            roots = [d.digest for d in self.index().manifests] + [Digest(k) for k in keep]
            live = self.reachable(roots)
            dirs: set[Path] = set()
            for d in list(self.list_blobs()):
                if d not in live:
                    path = self.blob_path(d)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                        removed.append(d)
                        dirs.add(path.parent)
            for directory in dirs:
                fsync_dir(directory)
        return removed


def _parse_big_index(raw: bytes) -> Index:
    """Our own index.json may exceed the 4 MiB cap for foreign documents."""
    doc = load_json(raw, "index.json", limit=MAX_INDEX_SIZE)
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list) or {"config", "layers"} & doc.keys():
        raise IntegrityError("index.json is not an image index")
    return Index([Descriptor.from_dict(e) for e in doc["manifests"]])


__all__ = ["Layout", "LAYOUT_VERSION", "atomic_file", "atomic_write_file", "fsync_dir", "open_regular_beneath",
           "write_verified"]
