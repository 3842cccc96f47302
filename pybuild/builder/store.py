"""The local image store: images by name and ID, blobs once, unpacked layers by diff_id.

On disk (ROOT is ``--root``)::

    ROOT/version              store format version, checked on open
    ROOT/lock                 flock taken for every mutation of the records
    ROOT/oci-layout, ROOT/index.json, ROOT/blobs/sha256/HEX
                              an OCI image layout holding every blob once
    ROOT/images.json          image records, rewritten atomically
    ROOT/layers/HEX/          an unpacked layer (HEX = diff_id hex): diff/ in overlay form
                              (whiteouts as 0/0 char devices) and info.json
    ROOT/containers/ID/       working containers (see container.py)
    ROOT/cache/               the step cache (see cache.py)
    ROOT/tmp/                 scratch space on the same filesystem, for atomic renames
    ROOT/leases/              what live processes write or reuse before a record names it

Why layers are kept unpacked and not always as blobs: a built step's layer *is*
its overlay upper directory, moved into place without copying; its tar blob is
produced when it is first pushed (deterministic writer, diff_id re-verified) and
then kept. A pulled layer keeps its compressed blob exactly as it came, and is
unpacked the first time a build stands on it.

Crash safety: every file becomes visible by rename after fsync; an image record is
written only after its config blob and layers exist and their directories are synced
(a build's step configs and layers are renamed into place unsynced, and named durably
only by that record), so a name never points at a missing image; what dead processes leave is removed by :mod:`recovery` when a
command opens the store after one of its registered owners (:mod:`owners`) died.

Concurrency: content a process writes or reuses is leased to it (:mod:`leases`) before
it is written or checked for, and gc (:mod:`garbage`, above this module with the roots
it reads: containers, the cache, manifest lists) spares leased content, so a ``prune``
beside a build or pull never deletes what the build's record is about to name. Records
are read, checked and rewritten inside the store lock. This module imports nothing of
what stands on it (container, fsck, recovery, manifest lists): ``tests/unit/test_shape.py``.

Permissions: the store is created 0700 (as containers/storage does), whatever the
umask; only its owner may read or replace images, blobs and the cache.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybuild.builder.records import BlobRef, ImageMeta, ImageRecord, LayerInfo, ManifestRef, TarOptions
from pybuild.builder.store_root import default_root
from pybuild.errors import (
    ImageNotFound,
    InvalidReference,
    LockTimeout,
    PybuildError,
    StoreError,
    StoreVersionError,
    UnsafeContentError,
)
from pybuild.fsutil import FileLock, atomic_write, fsync_dir, pid_alive, remove_tree, tree_size
from pybuild.oci.digest import Digest

STORE_VERSION = "1"
STORE_MODE = 0o700  # the root and its directories, whatever the umask
_SUBDIRS = ("layers", "containers", "cache", "tmp", "blobs", "leases")


@dataclass
class Image:
    """One image in the store. ``id`` is the config digest's hex (as buildah prints it)."""

    id: str
    names: list[str]
    layers: list[Digest]  # diff_ids, bottom first
    manifest: ManifestRef | None = None  # the stored manifest, if any (pulled or pushed)
    created: str = ""
    store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self.id)

    @property
    def config_bytes(self) -> bytes:
        assert self.store is not None
        return self.store.layout.read_blob(self.digest)

    @property
    def config(self) -> Any:
        from pybuild.oci.spec import ImageConfig

        return ImageConfig.from_json(self.config_bytes)

    @classmethod
    def from_record(cls, rec: ImageRecord, store: Store) -> Image:
        return cls(rec.id, list(rec.names), list(rec.layers), rec.manifest, rec.created, store)


class Store:
    """The store under ``root``; cheap to open (nothing is read until asked)."""

    def __init__(self, root: str | os.PathLike[str], *, storage_driver: str | None = None,
                 mount_program: str | None = None) -> None:
        self.root = Path(root).absolute()
        self.storage_driver = storage_driver
        self.mount_program = mount_program  # overlay by fuse-overlayfs (--storage-opt overlay.mount_program)
        self._layout: Any = None
        self._thread_lock = threading.RLock()  # guards the lease below
        self._flock = FileLock(self.root / "lock")
        self._lease: Any = None
        self._lease_depth = 0
        # layers a build may use but has not unpacked yet (a remote cache hit), by diff_id:
        # called with the diff_id, they fetch and unpack it (see builder/cache_import.py)
        self.layer_sources: dict[str, Any] = {}
        self._ensure()

    # ------------------------------------------------------------------ opening

    def _ensure(self) -> None:
        version = self.root / "version"
        try:
            found = version.read_text().strip()
        except FileNotFoundError:
            found = None
        except NotADirectoryError as e:
            raise StoreError(f"store root {self.root} is not a directory") from e
        if found is not None:
            if found != STORE_VERSION:
                raise StoreVersionError(
                    f"store at {self.root} has format version {found}, this pybuild reads {STORE_VERSION}"
                    " (use another --root, or remove the store)")
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=STORE_MODE)
            os.chmod(self.root, STORE_MODE)  # mkdir's mode is filtered by the umask
            for sub in _SUBDIRS:
                (self.root / sub).mkdir(exist_ok=True, mode=STORE_MODE)
                os.chmod(self.root / sub, STORE_MODE)
        except OSError as e:
            raise StoreError(f"cannot create the store at {self.root}: {e.strerror}") from e
        from pybuild.oci.layout import Layout

        Layout.create(self.root) if not (self.root / "oci-layout").exists() else None
        if not (self.root / "images.json").exists():
            atomic_write(self.root / "images.json", b"[]\n")
        atomic_write(version, STORE_VERSION.encode() + b"\n")

    @property
    def layout(self) -> Any:
        if self._layout is None:
            from pybuild.oci.layout import Layout

            layout = Layout.open(self.root)
            layout.on_put = lambda digest: self.hold(blobs=[str(digest)])
            self._layout = layout
        return self._layout

    def info(self) -> dict[str, Any]:
        from pybuild.builder.sandbox.overlay import driver_choice

        why = driver_choice(self.mount_program).why if not self.storage_driver \
            and "PYBUILD_STORAGE_DRIVER" not in os.environ else "asked for"
        return {"GraphRoot": str(self.root), "GraphDriverName": self.driver(), "GraphDriverReason": why,
                "ImageStore": {"number": len(self._read_records())},
                "StoreVersion": STORE_VERSION}

    def driver(self) -> str:
        if self.storage_driver:
            return self.storage_driver
        env = os.environ.get("PYBUILD_STORAGE_DRIVER")
        if env in ("overlay", "vfs"):
            return env
        from pybuild.builder.sandbox.overlay import driver_choice

        return driver_choice(self.mount_program).driver

    def overlay_program(self) -> str | None:
        """The mount program overlay containers use (fuse-overlayfs), None for the kernel's."""
        from pybuild.builder.sandbox.overlay import driver_choice

        return driver_choice(self.mount_program).program if self.driver() == "overlay" else None

    # ------------------------------------------------------------------ locking & scratch

    @contextlib.contextmanager
    def lock(self, timeout: float = 300.0) -> Iterator[None]:
        """Exclusive store lock for mutations; readers rely on atomic renames instead.

        Re-entrant within this object (a lease taken inside ``add_image`` must not wait
        for itself), and one thread at a time: pulls put blobs from several threads."""
        with self._flock.hold(timeout, LockTimeout(f"timed out waiting for the store lock at {self.root}")):
            yield

    # ------------------------------------------------------------------ leases

    @property
    def own_lease(self) -> Path | None:
        """This object's lease file, if it holds one (gc honours every other lease)."""
        return self._lease.path if self._lease is not None else None

    def hold(self, *, blobs: Sequence[str] = (), layers: Sequence[str] = ()) -> None:
        """Lease ``blobs`` and ``layers`` to this process, so no gc deletes them; call it
        *before* writing content or checking that it is there."""
        from pybuild.builder.leases import Lease

        with self._thread_lock:
            if self._lease is None:
                self._lease = Lease(self)
                if self._lease_depth == 0:  # held outside leased(): until the process ends
                    atexit.register(self._lease.release)
            lease = self._lease
        lease.add(blobs=blobs, layers=layers)

    @contextlib.contextmanager
    def leased(self) -> Iterator[None]:
        """Hold what the block writes or reuses until it ends (by then its records keep it)."""
        with self._thread_lock:
            self._lease_depth += 1
        try:
            yield
        finally:
            with self._thread_lock:
                self._lease_depth -= 1
                lease = self._lease if self._lease_depth == 0 else None
                if lease is not None:
                    self._lease = None
            if lease is not None:
                lease.release()

    def reuse_blob(self, digest: str, size: int | None) -> bool:
        """Whether blob ``digest`` is stored with ``size`` bytes, leasing it first so that it
        stays (the store's blobs were verified by digest when written)."""
        self.hold(blobs=[str(digest)])
        return bool(self.layout.has_blob(Digest(digest), size))

    def hold_image(self, image: Image) -> Image:
        """Lease everything ``image`` is made of (config, manifest, layer blobs, layers), for
        a build standing on it; raises ImageNotFound if it was removed meanwhile."""
        blobs = [str(image.digest)]
        if image.manifest:
            blobs.append(str(image.manifest.digest))
            blobs += [str(d.digest) for d in self._manifest_layers(image)]
        self.hold(blobs=blobs, layers=image.layers)
        if not any(r.id == image.id for r in self._read_records()):
            raise ImageNotFound(f"image {image.names[0] if image.names else image.id[:12]} was removed "
                                "while it was in use")
        return image

    def _manifest_layers(self, image: Image) -> list[Any]:
        from pybuild.oci.spec import Manifest, parse_manifest

        if not image.manifest:
            return []
        try:
            m = parse_manifest(self.layout.read_blob(image.manifest.digest), image.manifest.media_type)
        except PybuildError:
            return []
        return list(m.layers) if isinstance(m, Manifest) else []

    def scratch_dir(self, purpose: str = "work") -> Path:
        """A fresh directory under tmp/ named after this process (removed on open if we die)."""
        try:
            return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{purpose}-", dir=self.root / "tmp"))
        except OSError as e:
            from pybuild.fsutil import disk_full, is_disk_full

            if is_disk_full(e):
                raise disk_full(e, self.root / "tmp") from None
            raise

    # ------------------------------------------------------------------ image records

    def _read_records(self) -> list[ImageRecord]:
        path = self.root / "images.json"
        try:
            return [ImageRecord.from_json(r) for r in json.loads(path.read_bytes())]
        except FileNotFoundError:
            return []
        except json.JSONDecodeError as e:
            raise StoreError(f"{path} is corrupt: {e}") from e
        except (TypeError, KeyError, AttributeError, PybuildError) as e:
            raise StoreError(f"{path} is corrupt: a record is not an image record ({e})") from e

    def _write_records(self, records: list[ImageRecord]) -> None:
        data = [r.to_json() for r in records]
        atomic_write(self.root / "images.json", json.dumps(data, indent=1).encode() + b"\n")

    def images(self) -> list[Image]:
        return [Image.from_record(r, self) for r in self._read_records()]

    def image(self, ref: str) -> Image:
        """Find an image by name, short name, ID, ``sha256:ID`` or unique ID prefix."""
        img = self.find_image(ref)
        if img is None:
            raise ImageNotFound(f"image not known: {ref}")
        return img

    def find_image(self, ref: str) -> Image | None:
        images = self.images()
        ref = ref.strip()
        if not ref:
            return None
        by_id = ref[7:] if ref.startswith("sha256:") else ref
        if all(c in "0123456789abcdef" for c in by_id) and len(by_id) >= 3:
            matches = [i for i in images if i.id.startswith(by_id)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1 and len(by_id) < 64:
                # an ambiguous prefix may still be a name below
                exact = [i for i in images if i.id == by_id]
                if exact:
                    return exact[0]
        for candidate in _name_candidates(ref):
            for img in images:
                if candidate in img.names:
                    return img
        return None

    def add_image(self, config_bytes: bytes, layers: Sequence[str], *, names: Sequence[str] = (),
                  manifest: ManifestRef | None = None, created: str = "") -> Image:
        """Record an image whose layers (and manifest blobs) already exist; move ``names`` to it
        (a built image's layers unpacked: commit.write_image sees to it, push makes blobs of them).

        Inside the lock the content is checked once more, so a record never names a blob
        or layer a concurrent gc removed; the stored manifest of an intact image is kept
        (a second manifest for the same config may describe its layers wrongly)."""
        diff_ids = [Digest(d) for d in layers]
        self.hold(layers=diff_ids)
        digest, _ = self.layout.put_bytes(config_bytes, settle=False)  # settled below, with the record
        image_id = Digest(digest).hex
        full_names = [normalize_name(n) for n in names]
        with self.lock():
            self._check_content(image_id, diff_ids, manifest)
            records = self._read_records()
            unchanged = copy.deepcopy(records)
            for rec in records:
                rec.names = [n for n in rec.names if n not in full_names]
            existing = next((r for r in records if r.id == image_id), None)
            if existing is None:
                existing = ImageRecord(image_id, [], diff_ids, created)
                records.append(existing)
            keep_manifest = (existing.manifest is not None and existing.layers == diff_ids
                             and not self._content_problems(image_id, diff_ids, existing.manifest))
            existing.layers = diff_ids
            if manifest is not None and not keep_manifest:
                existing.manifest = manifest
            for n in full_names:
                if n not in existing.names:
                    existing.names.append(n)
            if records != unchanged:  # an unchanged tag writes nothing (issue 19)
                self._settle(digest, diff_ids)
                self._write_records(records)
        return Image.from_record(existing, self)

    def _settle(self, config: Digest, layers: Sequence[Digest]) -> None:
        """Make the names of the record's config blob and layers durable before the record:
        a build renames its step configs and layers into place without syncing their
        directories (the bytes are synced before the rename), so one fsync of each directory
        here covers every rename into it, this process's or another's (issue 19)."""
        fsync_dir(self.layout.blob_path(config).parent)
        if layers:
            fsync_dir(self.root / "layers")

    def _check_content(self, image_id: str, layers: list[Digest], manifest: ManifestRef | None) -> None:
        problems = self._content_problems(image_id, layers, manifest)
        if problems:
            raise StoreError(f"image {image_id[:12]} cannot be recorded: {problems[0]}")

    def _content_problems(self, image_id: str, layers: list[Digest], manifest: ManifestRef | None) -> list[str]:
        """What is missing for a record of ``image_id`` (sizes checked against the manifest)."""
        from pybuild.oci.spec import Manifest, is_layer, parse_manifest

        out: list[str] = []
        if not self.layout.has_blob(Digest("sha256:" + image_id)):
            out.append(f"config blob sha256:{image_id} is missing")
        descs: list[Any] = []
        if manifest is not None:
            try:
                m = parse_manifest(self.layout.read_blob(manifest.digest), manifest.media_type)
            except PybuildError as e:
                return [*out, f"manifest {manifest.digest}: {e}"]
            if not isinstance(m, Manifest):
                return [*out, f"manifest {manifest.digest} is an index"]
            if m.config.digest.hex != image_id:
                out.append(f"manifest {manifest.digest} names config {m.config.digest}")
            descs = [d for d in m.layers if is_layer(d.media_type)]
            for d in (m.config, *descs):
                if not self.layout.has_blob(d.digest, d.size):
                    out.append(f"blob {d.digest} of {d.size} bytes is missing")
        for i, diff_id in enumerate(layers):
            if not self.has_layer(diff_id) and i >= len(descs):
                out.append(f"layer {diff_id} is missing")
        return out

    def tag(self, ref: str, *names: str) -> Image:
        full = [normalize_name(n) for n in names]
        with self.lock():
            img = self.image(ref)
            records = self._read_records()
            for rec in records:
                if rec.id == img.id:
                    rec.names = list(dict.fromkeys(rec.names + full))
                else:
                    rec.names = [n for n in rec.names if n not in full]
            self._write_records(records)
            return self.image(img.id)

    def untag(self, ref: str, name: str) -> None:
        full = normalize_name(name)
        with self.lock():
            img = self.image(ref)
            records = self._read_records()
            for rec in records:
                if rec.id == img.id:
                    rec.names = [n for n in rec.names if n != full]
            self._write_records(records)

    def remove_image(self, ref: str, *, force: bool = False) -> tuple[str, bool]:
        """Remove a name (when ``ref`` is a name of an image with several) or the image.

        The image is looked up inside the lock: of several ``rmi`` of one name at once,
        one removes it and the others find it gone. Returns (image id, whether the image
        itself was removed)."""
        with self.lock():
            img = self.image(ref)
            by_name = next((c for c in _name_candidates(ref) if c in img.names), None)
            records = self._read_records()
            rec = next(r for r in records if r.id == img.id)
            if by_name is not None and len(rec.names) > 1:
                rec.names.remove(by_name)
                self._write_records(records)
                return img.id, False
            if by_name is None and len(rec.names) > 1 and not force:
                raise StoreError(f"image {img.id[:12]} has several names ({', '.join(rec.names)}): "
                                 "remove them by name, or use --force")
            users = self._containers_using(img.id)
            if users and not force:
                raise StoreError(f"image {img.id[:12]} is in use by container {users[0]}: remove it first")
            records = [r for r in records if r.id != img.id]
            self._write_records(records)
        return img.id, True

    def _containers_using(self, image_id: str) -> list[str]:
        out = []
        for state in (self.root / "containers").glob("*/state.json"):
            try:
                data = json.loads(state.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if data.get("image_id") == image_id:
                out.append(data.get("name") or state.parent.name)
        return out

    def image_meta(self, image_id: str) -> ImageMeta:
        """What a build asked of an image beyond its config: manifest format, annotations
        (the defaults when it asked nothing, or the record is unreadable)."""
        try:
            return ImageMeta.from_json(json.loads((self.root / "image-meta" / f"{image_id}.json").read_bytes()))
        except (FileNotFoundError, ValueError, TypeError, KeyError, AttributeError, PybuildError):
            return ImageMeta()

    def set_image_meta(self, image_id: str, meta: ImageMeta) -> None:
        (self.root / "image-meta").mkdir(exist_ok=True)
        atomic_write(self.root / "image-meta" / f"{image_id}.json", json.dumps(meta.to_json()).encode())

    # ------------------------------------------------------------------ layers

    def layer_dir(self, diff_id: str) -> Path:
        return self.root / "layers" / Digest(diff_id).hex

    def has_layer(self, diff_id: str) -> bool:
        return (self.layer_dir(diff_id) / "info.json").exists()

    def layer_info(self, diff_id: str) -> LayerInfo:
        path = self.layer_dir(diff_id) / "info.json"
        try:
            return LayerInfo.from_json({"diff_id": diff_id, **json.loads(path.read_bytes())})
        except FileNotFoundError:
            raise StoreError(f"layer {diff_id} is not in the store") from None
        except (ValueError, TypeError, KeyError, AttributeError, PybuildError) as e:
            raise StoreError(f"{path} is corrupt: {e}") from None

    def _write_layer_info(self, path: Path, info: LayerInfo) -> None:
        atomic_write(path, json.dumps(info.to_json(), sort_keys=True).encode())

    def adopt_layer(self, diff_dir: Path, diff_id: str, *, size: int,
                    tar_options: TarOptions | Mapping[str, Any],
                    blobs: Mapping[str, BlobRef] | None = None, settle: bool = True) -> Path:
        """Move ``diff_dir`` (an overlay-form tree) into the store as layer ``diff_id``.

        If the layer is already present, ``diff_dir`` is removed instead. The move is
        a rename, so a step's upper directory becomes a layer without copying.
        ``settle=False`` (a build's own container, which no durable record names): the
        rename into ``layers/`` is not synced here but by the image record that names it
        (:meth:`_settle`); a crash before then loses the layer, and the cache entries
        naming it read as misses."""
        final = self.layer_dir(diff_id)
        self.hold(layers=[str(diff_id)])
        if self.has_layer(diff_id):
            remove_tree(diff_dir)
            return final / "diff"
        staging = self.scratch_dir("layer")
        os.rename(diff_dir, staging / "diff")
        options = tar_options if isinstance(tar_options, TarOptions) else TarOptions.from_json(tar_options)
        info = LayerInfo(Digest(diff_id), size, options, dict(blobs or {}))
        try:
            self._write_layer_info(staging / "info.json", info)
        except BaseException:
            os.rename(staging / "diff", diff_dir)  # a full disk: the container keeps its changes
            remove_tree(staging)
            raise
        try:
            os.rename(staging, final)
        except OSError:
            if self.has_layer(diff_id):  # another process won the race
                remove_tree(staging)
            else:
                remove_tree(final)
                os.rename(staging, final)
        if settle:
            fsync_dir(final.parent)
        return final / "diff"

    def ensure_layer(self, image: Image, index: int) -> Path:
        """The unpacked directory of ``image``'s layer ``index``, unpacking its blob if needed."""
        diff_id = image.layers[index]
        if self.has_layer(diff_id):
            return self.layer_dir(diff_id) / "diff"
        from pybuild.oci.layer import apply_layer
        from pybuild.oci.spec import Manifest, parse_manifest

        if not image.manifest:
            raise StoreError(f"layer {diff_id} of image {image.id[:12]} is missing from the store")
        manifest = parse_manifest(self.layout.read_blob(image.manifest.digest), image.manifest.media_type)
        if not isinstance(manifest, Manifest):
            raise StoreError(f"image {image.id[:12]} records an index, not a manifest")
        desc = manifest.layers[index]
        self.hold(blobs=[str(desc.digest)], layers=[diff_id])
        staging = self.scratch_dir("unpack")
        try:
            (staging / "diff").mkdir()
            try:
                with self.layout.open_blob(desc.digest, desc.size) as blob:
                    got = apply_layer(blob, staging / "diff", whiteouts="overlay")
            except UnsafeContentError as e:  # a bomb: say which layer
                if e.where is None:
                    raise UnsafeContentError(e.message, where=f"layer {desc.digest} of image {image.id[:12]}") from e
                raise
            except OSError as e:
                from pybuild.fsutil import disk_full, is_disk_full

                if is_disk_full(e):
                    raise disk_full(e, f"layer {diff_id} (unpacking into {self.root / 'tmp'})") from None
                raise
            if got != diff_id:
                raise StoreError(f"layer {desc.digest} of image {image.id[:12]} has diff_id {got}, "
                                 f"its config says {diff_id}")
            from pybuild.oci.spec import compression_of

            blobs = {compression_of(desc.media_type): BlobRef(desc.digest, desc.size, desc.media_type)}
            sizes = image.manifest.layer_sizes or ()  # uncompressed, measured on pull
            self.adopt_layer(staging / "diff", diff_id,
                             size=int(sizes[index]) if index < len(sizes) else desc.size,
                             tar_options=TarOptions(exact=False), blobs=blobs)
        finally:
            remove_tree(staging)  # a bomb, a bad tar, a full disk: no half-unpacked layer stays
        return self.layer_dir(diff_id) / "diff"

    def layer_blob(self, diff_id: str, compression: str, media_type: str,
                   on_event: Any = None) -> BlobRef:
        """A blob of layer ``diff_id`` in ``compression`` (as ``media_type``), producing and
        keeping it if needed. Produced blobs come from the deterministic writer over the
        unpacked layer; its diff_id is re-checked."""
        from pybuild.oci.layer import write_layer

        info = self.layer_info(diff_id)
        known = info.blobs.get(compression)
        if known and self.layout.has_blob(known.digest):
            return dataclasses.replace(known, media_type=media_type)
        opts = info.tar_options
        if not opts.exact:
            raise StoreError(f"layer {diff_id} has no {compression} blob and cannot be re-created exactly")
        staging = self.scratch_dir("blob")
        try:
            tmp = staging / "layer"
            with open(tmp, "wb") as out:
                result = write_layer(self.layer_dir(diff_id) / "diff", out, compression=compression,
                                     overlay_upper=True, timestamp=opts.timestamp, clamp_mtime=opts.clamp_mtime)
            if result.diff_id != diff_id:
                raise StoreError(f"layer {diff_id} changed on disk (now {result.diff_id})")
            with open(tmp, "rb") as f:
                digest, size = self.layout.put_blob(f, result.digest, result.size)
        finally:
            remove_tree(staging)
        entry = BlobRef(Digest(digest), size, media_type)
        with self.lock():
            info = self.layer_info(diff_id)
            info.blobs[compression] = entry
            self._write_layer_info(self.layer_dir(diff_id) / "info.json", info)
        return entry


def normalize_name(name: str) -> str:
    """A name as buildah stores it: short names go under localhost/, ``:latest`` added."""
    from pybuild.oci.reference import Reference

    name = name.strip()
    if not name:
        raise InvalidReference("empty image name")
    if "/" not in name.split(":")[0] and "." not in name.split("/")[0]:
        ref = Reference.parse("localhost/" + name)
    else:
        first = name.split("/")[0]
        if "/" in name and ("." in first or ":" in first or first == "localhost"):
            ref = Reference.parse(name)
        else:
            ref = Reference.parse("localhost/" + name)
    return str(ref)


def _name_candidates(ref: str) -> list[str]:
    """Names to look for, in order: as given, localhost/NAME, docker.io/library/NAME."""
    from pybuild.oci.reference import Reference

    out: list[str] = []
    try:
        direct = Reference.parse(ref)
        first = ref.split("/")[0]
        explicit = "/" in ref and ("." in first or ":" in first or first == "localhost")
        if explicit:
            out.append(str(direct))
        else:
            out.append(normalize_name(ref))
            out.append(str(direct))
    except InvalidReference:
        pass
    return list(dict.fromkeys(out))


__all__ = ["Image", "Store", "STORE_VERSION", "STORE_MODE", "default_root", "normalize_name",
           # file helpers of pybuild.fsutil, re-exported for the engine's modules
           "atomic_write", "fsync_dir", "pid_alive", "remove_tree", "tree_size"]
