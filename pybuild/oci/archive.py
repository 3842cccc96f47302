"""The file transports: ``oci:``, ``oci-archive:``, ``docker-archive:``, ``dir:``.

Sources hand out raw blob streams; :func:`pybuild.oci.transport.copy_image` verifies
every byte. Destinations verify again before anything becomes visible and publish
atomically: a layout's ``index.json`` is swapped by rename, an archive is written
beside its final name and renamed at ``commit()``.

Archives are read in place (``tarfile`` random access over an uncompressed tar), never
extracted to disk: member names are only looked up, so a hostile name cannot write
anywhere; links inside an archive are resolved by name within the archive, with a hop
limit, and must end at a regular file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from pybuild.errors import (
    ConfigError,
    DigestMismatch,
    ImageNotFound,
    IntegrityError,
    InvalidReference,
    StoreError,
    UnsupportedError,
)
from pybuild.oci.compress import decompressing_reader, detect
from pybuild.oci.digest import CHUNK, Digest, VerifyingReader
from pybuild.oci.layout import (
    Layout,
    atomic_file,
    atomic_write_file,
    open_regular_beneath,
    write_verified,
)
from pybuild.oci.reference import Reference
from pybuild.oci.spec import (
    CONFIG_TYPES,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    MAX_DOCUMENT_SIZE,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    guess_media_type,
    load_json,
    parse_manifest,
)

DIR_VERSION = b"Directory Transport Version: 1.1\n"
_MAX_LINK_HOPS = 16


def _media_type_of(raw: bytes, fallback: str | None = None) -> str:
    """A document's media type from its own ``mediaType`` or shape."""
    try:
        doc = load_json(raw, "manifest")
    except IntegrityError:
        return fallback or "application/octet-stream"
    mt = guess_media_type(doc) if isinstance(doc, dict) else None
    return mt or fallback or "application/octet-stream"


def resolve_in_index(index: Index, ref: str | None, where: str) -> Descriptor:
    """The entry of ``index`` named ``ref``; with no name, the only one."""
    if not ref:
        if len(index.manifests) == 1:
            return index.manifests[0]
        raise ImageNotFound(f"{where} holds {len(index.manifests)} images; name one ({where}:NAME)")
    for desc in index.manifests:
        if desc.ref_name == ref:
            return desc
    raise ImageNotFound(f"no image named {ref!r} in {where}")


# --- reading tar archives in place ------------------------------------------------------------

def _norm(name: str) -> str | None:
    name = posixpath.normpath("/" + name).lstrip("/")
    return name or None


class TarArchive:
    """Random access to the regular files of an uncompressed tar, by normalised name."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            with open(self.path, "rb") as f:
                head = f.read(6)
        except FileNotFoundError:
            raise ImageNotFound(f"no archive at {self.path}") from None
        except IsADirectoryError:
            raise ConfigError(f"{self.path} is a directory, not an archive") from None
        if detect(head) != "none":
            raise UnsupportedError(f"{self.path} is {detect(head)}-compressed; decompress it first")
        try:
            self._tf = tarfile.open(self.path, "r:")
        except tarfile.TarError as e:
            raise IntegrityError(f"{self.path} is not a tar archive: {e}") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        for m in self._tf.getmembers():
            name = _norm(m.name)
            if name is None or m.isdir():
                continue
            if name in self._members:
                raise IntegrityError(f"{self.path}: duplicate entry {name!r}")
            self._members[name] = m

    def _resolve(self, name: str) -> tarfile.TarInfo:
        key = _norm(name)
        for _ in range(_MAX_LINK_HOPS):
            member = self._members.get(key or "")
            if member is None:
                raise ImageNotFound(f"{self.path}: no entry {name!r}")
            if member.isreg():
                return member
            if member.issym():
                key = _norm(posixpath.join(posixpath.dirname(key or ""), member.linkname))
            elif member.islnk():
                key = _norm(member.linkname)
            else:
                raise IntegrityError(f"{self.path}: entry {name!r} is not a regular file")
        raise IntegrityError(f"{self.path}: entry {name!r} is a link loop")

    def has(self, name: str) -> bool:
        return (_norm(name) or "") in self._members

    def size(self, name: str) -> int:
        return self._resolve(name).size

    def open(self, name: str) -> BinaryIO:
        f = self._tf.extractfile(self._resolve(name))
        assert f is not None
        return f  # type: ignore[return-value]

    def read(self, name: str, limit: int = MAX_DOCUMENT_SIZE) -> bytes:
        member = self._resolve(name)
        if member.size > limit:
            raise IntegrityError(f"{self.path}: {name} is {member.size} bytes, over the {limit} limit")
        with self.open(name) as f:
            return f.read()

    def close(self) -> None:
        self._tf.close()


def _write_tar(out_path: Path, entries: list[tuple[str, Path]]) -> None:
    """Write a tar of (name, file) pairs atomically (tmp beside, fsync, rename)."""
    with atomic_file(out_path) as f:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf:
            seen_dirs: set[str] = set()
            for name, src in entries:
                parent = posixpath.dirname(name)
                parts = parent.split("/") if parent else []
                for i in range(len(parts)):
                    d = "/".join(parts[: i + 1])
                    if d not in seen_dirs:
                        seen_dirs.add(d)
                        ti = tarfile.TarInfo(d + "/")
                        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                        tf.addfile(ti)
                ti = tarfile.TarInfo(name)
                ti.size = src.stat().st_size
                ti.mode = 0o644
                with open(src, "rb") as data:
                    tf.addfile(ti, data)


def _staging_dir(final: Path) -> Path:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name}-"))
    except OSError as e:
        raise StoreError(f"cannot write beside {final}: {e.strerror}") from e


# --- oci: and oci-archive: ------------------------------------------------------------------

class _TarLayout:
    """The read side of a Layout, over an ``oci-archive`` tar."""

    def __init__(self, tar: TarArchive) -> None:
        self.tar = tar
        if not tar.has("index.json"):
            raise IntegrityError(f"{tar.path} is not an OCI archive (no index.json)")

    def index(self) -> Index:
        doc = parse_manifest(self.tar.read("index.json"), "application/vnd.oci.image.index.v1+json")
        if not isinstance(doc, Index):
            raise IntegrityError(f"{self.tar.path}: index.json is not an index")
        return doc

    def open_raw(self, digest: Digest, size: int | None = None) -> BinaryIO:
        name = f"blobs/{digest.algorithm}/{digest.hex}"
        if size is not None and self.tar.size(name) != size:
            raise DigestMismatch(f"{self.tar.path}: blob {digest} is {self.tar.size(name)} bytes, expected {size}")
        return self.tar.open(name)

    def read_blob(self, digest: Digest, size: int | None = None, limit: int = MAX_DOCUMENT_SIZE) -> bytes:
        name = f"blobs/{digest.algorithm}/{digest.hex}"
        with VerifyingReader(io.BytesIO(self.tar.read(name, limit)), digest, size) as r:
            return r.read()


class OCISource:
    """Reads one image (by ref name) from an OCI layout directory or archive."""

    def __init__(self, store: Layout | _TarLayout, ref: str | None, reference: str,
                 closer: Any = None) -> None:
        self.reference = reference
        self._store = store
        self._closer = closer
        self._top = resolve_in_index(store.index(), ref, reference)
        # blobs of a directory can be read side by side; those inside one tar file cannot
        self.parallel = 4 if isinstance(store, Layout) else 1

    @property
    def descriptor(self) -> Descriptor:
        return self._top

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None:
            raw = self._store.read_blob(self._top.digest, self._top.size)
            return raw, self._top.media_type
        raw = self._store.read_blob(Digest(digest))
        return raw, _media_type_of(raw)

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        return self._store.open_raw(desc.digest, desc.size)

    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()


class OCIDestination:
    """Writes into an OCI layout; the ref name appears in index.json at ``commit()``.

    Closed without a commit (a push that failed), it leaves the destination as it was: a
    layout it created is removed whole; in an existing one, the blobs it added that nothing
    in index.json reaches are removed again."""

    supports_index = True
    parallel = 4  # put_blob writes each blob to its own temp file: safe from several threads
    verifies_blobs = True  # Layout.put_blob checks digest and size before the rename

    def __init__(self, layout: Layout, ref: str | None, reference: str, *,
                 created: list[Path] | None = None) -> None:
        self.reference = reference
        self.layout = layout
        self.ref = ref
        self._top: Descriptor | None = None
        self._created = list(created or [])  # what opening made (removed if never committed)
        self._added: set[Digest] = set()
        self._committed = False

    def has_blob(self, desc: Descriptor) -> bool:
        return self.layout.blob_size(desc.digest) == desc.size

    def _note(self, digest: Digest, existed: bool) -> None:
        if not existed:
            self._added.add(digest)

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        existed = self.layout.blob_size(desc.digest) is not None
        self.layout.put_blob(stream, desc.digest, desc.size)
        self._note(desc.digest, existed)

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        existed = self.layout.blob_size(Digest.of_bytes(raw)) is not None
        digest, size = self.layout.put_bytes(raw)
        self._note(digest, existed)
        if top_level:
            self._top = Descriptor(media_type, digest, size)

    def commit(self) -> None:
        if self._top is None:
            raise StoreError(f"{self.reference}: nothing to commit (no manifest written)")
        self.layout.set_ref(self.ref, self._top)
        self._committed = True

    def close(self) -> None:
        if self._committed:
            return
        if self._created:
            for path in self._created:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            return
        if not self._added:
            return
        with self.layout.lock():
            live = self.layout.reachable(d.digest for d in self.layout.index().manifests)
            for d in self._added - live:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.layout.blob_path(d))


class OCIArchiveDestination(OCIDestination):
    """An OCI layout staged beside FILE and tarred into place at ``commit()``."""

    def __init__(self, path: Path, ref: str | None, reference: str) -> None:
        self.final = path
        self._staging = _staging_dir(path)
        super().__init__(Layout.create(self._staging), ref, reference)

    def commit(self) -> None:
        super().commit()
        root = self._staging
        entries: list[tuple[str, Path]] = [("oci-layout", root / "oci-layout"), ("index.json", root / "index.json")]
        blobs = root / "blobs"
        for alg in sorted(os.listdir(blobs)):
            if alg.startswith("."):
                continue
            for name in sorted(os.listdir(blobs / alg)):
                if not name.startswith("."):
                    entries.append((f"blobs/{alg}/{name}", blobs / alg / name))
        _write_tar(self.final, entries)

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


def _split_ref(rest: str) -> tuple[str, str | None]:
    path, _, ref = rest.partition(":")
    if not path:
        raise InvalidReference(f"missing path in {rest!r}")
    return path, ref or None


def open_oci_source(rest: str) -> OCISource:
    path, ref = _split_ref(rest)
    return OCISource(Layout.open(path), ref, f"oci:{rest}")


def open_oci_destination(rest: str) -> OCIDestination:
    path, ref = _split_ref(rest)
    created = _would_create(Path(path))
    return OCIDestination(Layout.create(path), ref, f"oci:{rest}", created=created)


def _would_create(path: Path) -> list[Path]:
    """What making a layout at ``path`` adds: its topmost missing directory, or, in an
    existing directory that is not yet a layout, the layout's own entries."""
    top = None
    p = path.absolute()
    while not os.path.lexists(p):
        top, p = p, p.parent
    if top is not None:
        return [top]
    if os.path.lexists(path / "oci-layout"):
        return []
    return [path / name for name in ("oci-layout", "index.json", "index.json.lock", "blobs")
            if not os.path.lexists(path / name)]


def open_oci_archive_source(rest: str) -> OCISource:
    path, ref = _split_ref(rest)
    tar = TarArchive(path)
    try:
        return OCISource(_TarLayout(tar), ref, f"oci-archive:{rest}", closer=tar)
    except BaseException:
        tar.close()
        raise


def open_oci_archive_destination(rest: str) -> OCIArchiveDestination:
    path, ref = _split_ref(rest)
    return OCIArchiveDestination(Path(path), ref, f"oci-archive:{rest}")


# --- docker-archive: ------------------------------------------------------------------------

class DockerArchiveSource:
    """Reads one image of a ``docker save`` archive (legacy and OCI-style layouts).

    The archive has no manifest of its own: a Docker v2s2 manifest is made up from
    ``manifest.json`` and the config, with each layer described by its diff_id (the
    layer is served uncompressed, so that is its digest).
    """

    def __init__(self, path: str, selector: str | None, reference: str) -> None:
        self.reference = reference
        self.tar = TarArchive(path)
        try:
            self._load(selector)
        except BaseException:
            self.tar.close()
            raise

    def _load(self, selector: str | None) -> None:
        entries = load_json(self.tar.read("manifest.json"), f"{self.tar.path}: manifest.json")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise IntegrityError(f"{self.tar.path}: manifest.json is not a list of images")
        entry = self._select(entries, selector)
        self.repo_tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]  # names a pull gives
        config_name, layer_names = entry.get("Config"), entry.get("Layers") or []
        if not isinstance(config_name, str) or not isinstance(layer_names, list) \
                or not all(isinstance(n, str) for n in layer_names):
            raise IntegrityError(f"{self.tar.path}: manifest.json entry lacks Config or Layers")
        self._config = self.tar.read(config_name)
        config = ImageConfig.from_json(self._config)
        if len(config.rootfs_diff_ids) != len(layer_names):
            raise IntegrityError(f"{self.tar.path}: {len(layer_names)} layers but the config lists "
                                 f"{len(config.rootfs_diff_ids)} diff_ids")
        self._config_desc = Descriptor(DOCKER_CONFIG, Digest.of_bytes(self._config), len(self._config))
        self._layers: dict[Digest, tuple[str, str]] = {}
        layers = []
        for name, diff_id in zip(layer_names, config.rootfs_diff_ids, strict=True):
            with self.tar.open(name) as f:
                fmt = detect(f.read(6))
            if fmt == "none":
                size = self.tar.size(name)
            else:  # a compressed layer file: serve it decompressed, so count its size once
                size = 0
                with self.tar.open(name) as f:
                    reader = decompressing_reader(f, fmt)
                    while chunk := reader.read(CHUNK):
                        size += len(chunk)
            self._layers[diff_id] = (name, fmt)
            layers.append(Descriptor(DOCKER_LAYER, diff_id, size))
        self._manifest = Manifest(self._config_desc, layers, DOCKER_MANIFEST).to_json()

    def _select(self, entries: list[dict[str, Any]], selector: str | None) -> dict[str, Any]:
        if not selector:
            if len(entries) != 1:
                raise ImageNotFound(f"{self.tar.path} holds {len(entries)} images; name one "
                                    "(docker-archive:FILE:NAME:TAG or :@N)")
            return entries[0]
        if selector.startswith("@"):
            try:
                return entries[int(selector[1:])]
            except (ValueError, IndexError):
                raise ImageNotFound(f"{self.tar.path}: no image number {selector[1:]!r}") from None
        want = Reference.parse(selector)
        for entry in entries:
            for tag in entry.get("RepoTags") or []:
                try:
                    if isinstance(tag, str) and Reference.parse(tag) == want:
                        return entry
                except InvalidReference:
                    continue
        raise ImageNotFound(f"no image {selector!r} in {self.tar.path}")

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is not None and digest != Digest.of_bytes(self._manifest):
            raise ImageNotFound(f"{self.reference}: no manifest {digest}")
        return self._manifest, DOCKER_MANIFEST

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        if desc.digest == self._config_desc.digest:
            return io.BytesIO(self._config)
        if desc.digest not in self._layers:
            raise ImageNotFound(f"{self.reference}: no blob {desc.digest}")
        name, fmt = self._layers[desc.digest]
        f = self.tar.open(name)
        return f if fmt == "none" else decompressing_reader(f, fmt)

    def close(self) -> None:
        self.tar.close()


class DockerArchiveDestination:
    """Writes a ``docker load``-able archive: ``manifest.json``, ``HEX.json``, ``DIFFID.tar``.

    Layers are stored uncompressed (as ``docker save`` and skopeo do); the archive is
    written beside FILE and renamed into place at ``commit()``.
    """

    supports_index = False

    def __init__(self, path: Path, ref: Reference | None, reference: str) -> None:
        self.reference = reference
        self.final = path
        self.ref = ref
        self._staging = _staging_dir(path)
        self._config: Digest | None = None
        self._layer_files: dict[Digest, str] = {}
        self._manifest: Manifest | None = None

    def has_blob(self, desc: Descriptor) -> bool:
        return desc.digest in self._layer_files or desc.digest == self._config

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        if desc.media_type in CONFIG_TYPES:
            write_verified(stream, self._staging, "{hex}.json", desc.digest, desc.size)
            self._config = desc.digest
            return
        verified = VerifyingReader(stream, desc.digest, desc.size)
        plain = decompressing_reader(verified, where=f"{self.reference}: layer {desc.digest}")  # type: ignore[arg-type]
        diff_id, _, _ = write_verified(plain, self._staging, "{hex}.tar")
        while verified.read(CHUNK):  # reach EOF so the compressed digest is checked too
            pass
        self._layer_files[desc.digest] = f"{diff_id.hex}.tar"

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        doc = parse_manifest(raw, media_type)
        if isinstance(doc, Index):
            raise UnsupportedError(f"{self.reference}: a docker archive holds one platform's image; "
                                   "choose one with --platform")
        if top_level:
            self._manifest = doc

    def commit(self) -> None:
        m = self._manifest
        if m is None or self._config is None or m.config.digest != self._config:
            raise StoreError(f"{self.reference}: nothing to commit (no manifest or config written)")
        missing = [x.digest for x in m.layers if x.digest not in self._layer_files]
        if missing:
            raise StoreError(f"{self.reference}: layer {missing[0]} was never written")
        layers = [self._layer_files[x.digest] for x in m.layers]
        doc = [{"Config": f"{self._config.hex}.json",
                "RepoTags": [self.ref.familiar] if self.ref else [],
                "Layers": layers}]
        atomic_write_file(self._staging / "manifest.json", json.dumps(doc, separators=(",", ":")).encode())
        names = [f"{self._config.hex}.json", *dict.fromkeys(layers), "manifest.json"]
        _write_tar(self.final, [(n, self._staging / n) for n in names])

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


def _split_archive_ref(rest: str) -> tuple[str, str | None]:
    path, _, sel = rest.partition(":")
    if not path:
        raise InvalidReference(f"missing path in docker-archive:{rest}")
    return path, sel or None


def open_docker_archive_source(rest: str) -> DockerArchiveSource:
    path, sel = _split_archive_ref(rest)
    return DockerArchiveSource(path, sel, f"docker-archive:{rest}")


def open_docker_archive_destination(rest: str) -> DockerArchiveDestination:
    path, sel = _split_archive_ref(rest)
    if sel and sel.startswith("@"):
        raise InvalidReference(f"docker-archive:{rest}: cannot write to an image number")
    ref = Reference.parse(sel) if sel else None
    if ref is not None and ref.digest is not None:
        raise InvalidReference(f"docker-archive:{rest}: a digest cannot be written as a tag")
    return DockerArchiveDestination(Path(path), ref, f"docker-archive:{rest}")


# --- dir: ---------------------------------------------------------------------------------

class DirSource:
    """skopeo's ``dir:`` format: ``manifest.json``, ``version``, blobs named by hex."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.reference = f"dir:{path}"
        if not self.path.is_dir():
            raise ImageNotFound(f"no directory {path}")

    def _read(self, name: str) -> bytes:
        try:
            with open_regular_beneath(self.path, name) as f:
                raw = f.read(MAX_DOCUMENT_SIZE + 1)
        except FileNotFoundError:
            raise ImageNotFound(f"{self.reference}: no {name}") from None
        if len(raw) > MAX_DOCUMENT_SIZE:
            raise IntegrityError(f"{self.reference}: {name} is over {MAX_DOCUMENT_SIZE} bytes")
        return raw

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        name = "manifest.json" if digest is None else f"{Digest(digest).hex}.manifest.json"
        raw = self._read(name)
        return raw, _media_type_of(raw)

    def get_blob(self, desc: Descriptor) -> BinaryIO:
        for name in (desc.digest.hex, f"{desc.digest.hex}.tar"):
            try:
                return open_regular_beneath(self.path, name)
            except FileNotFoundError:
                continue
        raise ImageNotFound(f"{self.reference}: no blob {desc.digest}")

    def close(self) -> None:
        pass


class DirDestination:
    """Writes skopeo's ``dir:`` format. The image is written into a directory beside DIR
    and takes DIR's place at ``commit()``, so a push that fails leaves DIR as it was (an
    existing dir: image's files are replaced only then)."""

    supports_index = True

    def __init__(self, path: str) -> None:
        self.final = Path(path)
        self.reference = f"dir:{path}"
        try:
            names = os.listdir(self.final) if self.final.is_dir() else []
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}") from e
        if names and "version" not in names:
            raise ConfigError(f"{path} is not empty and not a dir: image; refusing to overwrite it")
        if os.path.lexists(self.final) and not self.final.is_dir():
            raise ConfigError(f"{path} exists and is not a directory")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.tmp-", dir=self.final.parent))
        except OSError as e:
            raise StoreError(f"cannot create {path}: {e.strerror}") from e
        atomic_write_file(self.path / "version", DIR_VERSION)

    def has_blob(self, desc: Descriptor) -> bool:
        p = self.path / desc.digest.hex
        return p.is_file() and not p.is_symlink() and p.stat().st_size == desc.size

    def put_blob(self, desc: Descriptor, stream: BinaryIO) -> None:
        write_verified(stream, self.path, "{hex}", desc.digest, desc.size)

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        name = "manifest.json" if top_level else f"{Digest.of_bytes(raw).hex}.manifest.json"
        atomic_write_file(self.path / name, raw)

    def commit(self) -> None:
        """Swap the staged image in: DIR's old files go only once the new ones are complete."""
        os.chmod(self.path, 0o755)
        if self.final.is_dir():
            for name in os.listdir(self.final):  # the old image: files only (checked at open)
                p = self.final / name
                if p.is_symlink() or p.is_file():
                    p.unlink()
            for name in os.listdir(self.path):
                os.rename(self.path / name, self.final / name)
            os.rmdir(self.path)
        else:
            os.rename(self.path, self.final)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def open_dir_source(rest: str) -> DirSource:
    return DirSource(rest)


def open_dir_destination(rest: str) -> DirDestination:
    return DirDestination(rest)


__all__ = [
    "TarArchive", "OCISource", "OCIDestination", "OCIArchiveDestination", "DockerArchiveSource",
    "DockerArchiveDestination", "DirSource", "DirDestination", "resolve_in_index", "DIR_VERSION",
    "open_oci_source", "open_oci_destination", "open_oci_archive_source", "open_oci_archive_destination",
    "open_docker_archive_source", "open_docker_archive_destination", "open_dir_source",
    "open_dir_destination",
]
