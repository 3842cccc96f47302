"""Working containers: an image's layers under a writable overlay, kept as a store record.

A working container is a directory ``ROOT/containers/ID/`` holding ``state.json``
(its name, base image, layers and the image config being edited), ``upper/`` and
``work/`` (the overlay's writable half) and ``merged/`` (the mount point); ``aliases/``
holds the stand-ins for layers the stack repeats (see lower_stack.py).
Committing a step adopts ``upper/`` as a new layer by rename — its files are
never copied — and starts a fresh ``upper/``.

Mount points the sandbox needs but the image lacks (/proc, /etc/hosts, a RUN
--mount target) come from ``stubs/``, a read-only lower layer placed on top of
the image's layers, so they exist while a step runs and never reach the upper
directory or a committed layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pybuild.builder.paths import resolve_in_root
from pybuild.builder.records import ContainerState, TarOptions, digests
from pybuild.builder.store import Image, Store, atomic_write, pid_alive, remove_tree
from pybuild.errors import ContainerNotFound, PybuildError, SandboxError, StoreError
from pybuild.oci.digest import Digest
from pybuild.oci.spec import ImageConfig


class WorkingContainer:
    """A container being built. Use :meth:`create` or :meth:`load`, never the constructor."""

    def __init__(self, store: Store, state: ContainerState) -> None:
        self.store = store
        self.state = state
        self.dir = store.root / "containers" / state.id
        self._config: ImageConfig | None = None
        self._made = True  # False: a build's own container whose directory is made on first need
        self._unsynced = False  # upper/ was written under a volatile mount: syncfs before adopting it

    # ------------------------------------------------------------------ records

    @classmethod
    def create(cls, store: Store, image: Image | None, *, name: str | None = None,
               config: ImageConfig | None = None, record: bool = True) -> WorkingContainer:
        """A new container on ``image`` (None: scratch). ``record=False`` makes a build-internal
        container that ``containers`` does not list (it is still removed by ``rm --all``); its
        directory is made only when a step needs it (a mount, a commit), so a build whose
        every step hits the cache writes nothing for it (issue 19)."""
        cid = secrets.token_hex(32)
        if config is None:
            config = image.config if image is not None else _scratch_config()
        state = ContainerState(
            cid, name or "", image.id if image else "",
            image.names[0] if image and image.names else (image.id if image else "scratch"),
            list(image.layers) if image else [], list(image.layers) if image else [],
            time.time(), internal=not record, pid=os.getpid(), driver=store.driver())
        wc = cls(store, state)
        wc._config = config
        wc._made = False
        if record:
            wc.save()
        return wc

    def _make(self) -> None:
        """Create the directory (upper, work, merged) and its state.json."""
        self.dir.mkdir(parents=True)
        try:
            for sub in ("upper", "work", "merged"):
                (self.dir / sub).mkdir()
            self._made = True
            self._write_state()
        except BaseException:
            self._made = False
            remove_tree(self.dir)  # no half-made container without state.json (a full disk)
            raise

    @classmethod
    def load(cls, store: Store, ref: str) -> WorkingContainer:
        for wc in cls.all(store):
            if ref in (wc.id, wc.name) or (len(ref) >= 3 and wc.id.startswith(ref)):
                return wc
        raise ContainerNotFound(f"container not known: {ref}")

    @classmethod
    def all(cls, store: Store) -> list[WorkingContainer]:
        out = []
        for state_file in sorted((store.root / "containers").glob("*/state.json")):
            try:
                state = ContainerState.from_json(json.loads(state_file.read_bytes()))
            except (OSError, ValueError, TypeError, KeyError, AttributeError, PybuildError):
                continue  # being written (renamed in whole) or not a container's: fsck names it
            out.append(cls(store, state))
        return out

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def layers(self) -> list[Digest]:
        return list(self.state.layers)

    @property
    def config(self) -> ImageConfig:
        if self._config is None:
            self._config = ImageConfig.from_json(json.dumps(self.state.config).encode())
        return self._config

    @config.setter
    def config(self, value: ImageConfig) -> None:
        self._config = value

    def save(self) -> None:
        """Write state.json. A build's own container (internal) writes it once, when its
        directory is made, without fsync: nothing but this process uses what it holds after
        that (its layers, config, mount flag), and what recovery reads of it if the build
        dies (its id, driver, process, that it is internal) never changes (issue 19: a
        multi-stage cold build rewrote it 26 times)."""
        if not self._made:
            self._make()
            return
        if self.state.internal:
            return
        self._write_state()

    def _write_state(self) -> None:
        if self._config is not None:
            self.state.config = json.loads(self._config.to_json(docker=True))
        atomic_write(self.dir / "state.json", json.dumps(self.state.to_json(), indent=1).encode(),
                     durable=not self.state.internal)

    # ------------------------------------------------------------------ mounting

    @property
    def vfs(self) -> bool:
        """True when this container is a plain copy (the vfs driver) rather than an overlay."""
        return self.state.driver == "vfs"

    @property
    def mountpoint(self) -> Path:
        return self.dir / ("rootfs" if self.vfs else "merged")

    def _lower_dirs(self) -> list[str]:
        lowers: list[str] = []
        base: Image | None = None
        for i, diff_id in enumerate(self.state.layers):
            if self.store.has_layer(diff_id):
                lowers.append(str(self.store.layer_dir(diff_id) / "diff"))
                continue
            if base is None and self.state.image_id:
                base = self.store.image(self.state.image_id)
            if base is None or i >= len(base.layers) or base.layers[i] != diff_id:
                # a stage built FROM another stage (or an image) whose layers were never
                # unpacked: any stored image holding the layer can provide it
                lowers.append(str(ensure_layer_any(self.store, diff_id,
                                                   f"container {self.name or self.id[:12]}")))
                continue
            lowers.append(str(self.store.ensure_layer(base, i)))
        lowers.reverse()  # overlay lists the topmost first
        return lowers

    def mount(self, stubs: Sequence[tuple[str, bool]] = ()) -> Path:
        """Mount the container's root filesystem; ``stubs`` (path, is_dir) must exist in it."""
        from pybuild.builder.sandbox.overlay import mount_overlay

        if not self._made:
            self._make()
        if self.vfs:
            return self._mount_vfs(stubs)
        target = str(self.mountpoint)
        self._unmount_overlay()  # a mount left over
        from pybuild.builder.lower_stack import distinct_lowers

        lowers = distinct_lowers(self._lower_dirs(), self.dir / "aliases")
        if not lowers:
            empty = self.dir / "empty"
            empty.mkdir(exist_ok=True)
            lowers = [str(empty)]
        self._prepare_link_groups()
        self._reset_work()
        upper, work, short = str(self.dir / "upper"), str(self.dir / "work"), str(self.dir / "l")
        program = self.store.overlay_program()
        volatile = self.state.internal  # a crash's leftovers are removed, never mounted again
        missing = self._probe_stubs(lowers, target, stubs, program) if stubs else []
        mounted = False
        if missing is None:  # no read-only probe here: look in the real mount
            self._unsynced |= mount_overlay(lowers, upper, work, target, short_dir=short, program=program,
                                            volatile=volatile)
            mounted = True
            missing = self._missing_stubs(stubs)
            if missing:
                self._unmount_overlay()
                self._reset_work()
                mounted = False
        if not mounted:
            if missing:
                stub_dir = self.dir / "stubs"
                remove_tree(stub_dir)
                stub_dir.mkdir()
                for rel, is_dir in missing:
                    host = stub_dir / rel
                    _make_parents(stub_dir, rel)
                    if is_dir:
                        host.mkdir(mode=0o755, exist_ok=True)
                    elif not host.exists():
                        host.touch(mode=0o644)
                lowers = [str(stub_dir), *lowers]
            self._unsynced |= mount_overlay(lowers, upper, work, target, short_dir=short, program=program,
                                            volatile=volatile)
        self.state.mounted = True
        self.save()
        return self.mountpoint

    def _probe_stubs(self, lowers: list[str], target: str, stubs: Sequence[tuple[str, bool]],
                     program: str | None) -> list[tuple[str, bool]] | None:
        """The stubs the container lacks, looked up in a read-only overlay of upper/ over its
        layers: unmounting that syncs nothing, where unmounting the writable one syncs the
        store's filesystem (a step paid that once more before: issue 19). None when it
        cannot be mounted here (then the real mount is looked in)."""
        from pybuild.builder.sandbox.overlay import mount_overlay, unmount

        try:
            mount_overlay([str(self.dir / "upper"), *lowers], None, None, target, short_dir=str(self.dir / "l"),
                          program=program)
        except SandboxError:
            return None
        try:
            return self._missing_stubs(stubs)
        finally:
            unmount(target)

    def _prepare_link_groups(self) -> None:
        """Lower hard-link groups go into upper/ whole before a mount (see link_groups.py)."""
        from pybuild.builder import link_groups

        records = link_groups.prepare(self.dir / "upper", self._lower_dirs())
        if records:
            self.state.link_groups.extend(records)

    def _settle_link_groups(self) -> None:
        """Unmounted: the placed groups nothing changed leave upper/ again."""
        from pybuild.builder import link_groups

        records, self.state.link_groups = self.state.link_groups, []
        if records:
            link_groups.settle(self.dir / "upper", records)
            self.save()

    def _missing_stubs(self, stubs: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
        root = str(self.mountpoint)
        missing = []
        for path, is_dir in stubs:
            host = resolve_in_root(root, path)
            if not os.path.lexists(host):
                missing.append((os.path.relpath(host, root), is_dir))
        return missing

    def _reset_work(self) -> None:
        work = self.dir / "work"
        remove_tree(work)
        work.mkdir()

    def _mount_vfs(self, stubs: Sequence[tuple[str, bool]]) -> Path:
        """vfs: materialise the layers into rootfs/ once; create missing mount points, which
        unmount removes again (restoring their parents' times) so a commit never sees them."""
        from pybuild.builder import vfs

        root = self.mountpoint
        if not self.state.vfs_ready:
            remove_tree(root)
            root.mkdir()
            for lower in reversed(self._lower_dirs()):
                vfs.apply_layer_dir(Path(lower), root)
            vfs.save_snapshot(self.dir / "snapshot.json", vfs.snapshot(root))
            self.state.vfs_ready = True
        created: list[list[Any]] = []
        for rel, is_dir in self._missing_stubs(list(stubs)):
            parts = Path(rel).parts
            for i in range(1, len(parts) + 1):
                host = root.joinpath(*parts[:i])
                if os.path.lexists(host):
                    continue
                parent = host.parent
                pst = os.lstat(parent)
                if i < len(parts) or is_dir:
                    host.mkdir(mode=0o755)
                else:
                    host.touch(mode=0o644)
                created.append([str(host), str(parent), pst.st_atime_ns, pst.st_mtime_ns])
        self.state.vfs_stubs = created
        self.state.mounted = True
        self.save()
        return root

    def _unmount_vfs(self) -> None:
        for host, parent, atime, mtime in reversed(self.state.vfs_stubs):
            with contextlib.suppress(OSError):
                if os.path.isdir(host) and not os.path.islink(host):
                    os.rmdir(host)
                else:
                    os.unlink(host)
                os.utime(parent, ns=(atime, mtime), follow_symlinks=False)
        self.state.vfs_stubs = []

    def unmount(self) -> None:
        if not self._made:
            return  # never mounted
        if self.vfs:
            self._unmount_vfs()
            if self.state.mounted:
                self.state.mounted = False
            self.save()
            return
        self._unmount_overlay()
        if self.state.mounted:
            self.state.mounted = False
            self.save()

    def _unmount_overlay(self) -> None:
        """Unmount the overlay if one is mounted. A build's own container asks umount2 alone
        (not mounted: EINVAL), where reading /proc/self/mountinfo first costs more than the
        call on a host with many mounts; another container's check needs no libc."""
        from pybuild.builder.sandbox.overlay import is_mounted, unmount

        target = str(self.mountpoint)
        if self.state.internal or is_mounted(target):
            unmount(target)

    @contextlib.contextmanager
    def mounted(self, stubs: Sequence[tuple[str, bool]] = ()) -> Iterator[Path]:
        root = self.mount(stubs)
        try:
            yield root
        finally:
            self.unmount()

    # ------------------------------------------------------------------ committing

    def upper_is_empty(self) -> bool:
        """True when nothing changed since the last commit (vfs: by comparing the tree with
        its snapshot, since its changes are made in rootfs/, not in upper/)."""
        if not self._made:
            return True
        upper = self.dir / "upper"
        if self.state.link_groups:
            self.unmount()
            self._settle_link_groups()
        if self.vfs and self.state.vfs_ready:
            from pybuild.builder import vfs

            remove_tree(upper)
            vfs.diff(self.mountpoint, vfs.load_snapshot(self.dir / "snapshot.json"), upper)
        return not any(os.scandir(upper))

    def commit_layer(self, *, timestamp: int | None = None, clamp_mtime: int | None = None,
                     exclude: Callable[[str], bool] | None = None) -> Digest:
        """Turn the upper directory into a layer in the store; returns its diff_id."""
        from pybuild.oci.layer import layer_digests

        if not self._made:
            self._make()
        self.unmount()
        self._settle_link_groups()
        upper = self.dir / "upper"
        if not self.vfs and self.store.overlay_program():
            from pybuild.builder.sandbox.fuse_overlay import normalize_upper

            normalize_upper(str(upper), self._lower_dirs())
        if self.vfs:
            from pybuild.builder import vfs

            remove_tree(upper)
            if not self.state.vfs_ready:
                self.mount()
                self.unmount()
            after = vfs.diff(self.mountpoint, vfs.load_snapshot(self.dir / "snapshot.json"), upper)
            vfs.save_snapshot(self.dir / "snapshot.json", after)
        if timestamp is not None:
            _set_mtimes(upper, timestamp)
        elif clamp_mtime is not None:
            _set_mtimes(upper, clamp_mtime, only_later=True)
        synced = _syncfs_started(str(upper)) if self._unsynced else None
        info = layer_digests(upper, overlay_upper=True, timestamp=timestamp, clamp_mtime=clamp_mtime,
                             exclude=exclude)
        if synced is not None:
            synced()
            self._unsynced = False
        # a build's own layer is named durably only by the image record, which settles it
        self.store.adopt_layer(upper, str(info.diff_id), size=info.uncompressed_size,
                               tar_options=TarOptions(timestamp, clamp_mtime), settle=not self.state.internal)
        upper.mkdir()
        self.state.layers.append(info.diff_id)
        self.save()
        return info.diff_id

    def set_layers(self, layers: Sequence[str]) -> None:
        """Point the container at other layers (a cache hit); the upper must be empty.

        A build's own container that is not mounted and has an empty upper (every step of
        a fully cached build) changes in memory only: nothing else reads its state.json,
        and the next save (a mount, a commit) writes the whole state (issue 19)."""
        if not self._made:
            self.state.layers = digests(layers)
            return
        if (self.state.internal and not self.vfs and not self.state.mounted
                and not self.state.link_groups and _empty_dir(self.dir / "upper")):
            self.state.layers = digests(layers)
            return
        self.unmount()
        remove_tree(self.dir / "upper")
        (self.dir / "upper").mkdir()
        if self.vfs:
            remove_tree(self.mountpoint)
            self.state.vfs_ready = False
        self.state.layers = digests(layers)
        self.state.link_groups = []
        self.save()

    def remove(self) -> None:
        """Unmount and delete the container (its committed layers stay in the store)."""
        if not self._made:
            return
        with contextlib.suppress(Exception):
            self.unmount()
        from pybuild.builder.sandbox.overlay import is_mounted

        if is_mounted(str(self.mountpoint)):
            raise StoreError(f"container {self.name or self.id[:12]} is still mounted at {self.mountpoint}")
        remove_tree(self.dir)


def _syncfs_started(path: str) -> Callable[[], None]:
    """syncfs of ``path``'s filesystem on a thread of its own, so the disk writes out a step's
    files while the layer's digest is read from the page cache; the function returned waits
    for it, raising StoreError if the filesystem could not write them.

    A build's own container is mounted volatile (overlay.mount_overlay): its unmount no
    longer syncs the store's filesystem, nor do fsyncs inside a step (a package manager's),
    so this is the one sync that makes the upper directory durable before it becomes a
    layer that records name, as the unmount's sync did (issue 19)."""
    import threading

    from pybuild.builder.sandbox.linux import syncfs

    failed: list[OSError] = []

    def run() -> None:
        try:
            syncfs(path)
        except OSError as e:
            failed.append(e)

    thread = threading.Thread(target=run, name="pybuild-syncfs", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise StoreError(f"cannot write the layer out to disk: {failed[0].strerror}", where=path)

    return wait


def _empty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _make_parents(root: Path, rel: str) -> None:
    parent = Path(rel).parent
    if str(parent) in (".", ""):
        return
    (root / parent).mkdir(parents=True, exist_ok=True, mode=0o755)


def _set_mtimes(tree: Path, when: int, *, only_later: bool = False) -> None:
    """Set every mtime in ``tree`` to ``when`` (buildah's --timestamp applies to file times too);
    ``only_later``: lower only the times after ``when`` (--rewrite-timestamp clamps), so the
    unpacked layer a container sees has the times its blob has."""
    paths = [os.path.join(d, n) for d, dirs, files in os.walk(tree, topdown=False) for n in files + dirs]
    for path in [*paths, str(tree)]:  # children first: a directory's time is set after its entries'
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if not only_later or st.st_mtime_ns > when * 10**9:
                os.utime(path, ns=(st.st_atime_ns, when * 10**9), follow_symlinks=False)


def _scratch_config() -> ImageConfig:
    from pybuild.oci.platform_host import host_platform

    hp = host_platform()
    cfg = ImageConfig(architecture=hp.architecture, os="linux")
    if hp.variant and hp.architecture == "arm":
        cfg.variant = hp.variant
    return cfg


def ensure_layer_any(store: Store, diff_id: str, what: str = "an image") -> Path:
    """The unpacked directory of layer ``diff_id``, unpacked from any stored image's blob
    holding it (a pulled image's layers stay compressed until something needs them)."""
    if store.has_layer(diff_id):
        return store.layer_dir(diff_id) / "diff"
    if diff_id in store.layer_sources:  # a remote cache hit's layer, fetched now it is needed
        return Path(store.layer_sources[diff_id](diff_id))
    for img in store.images():
        if img.manifest and diff_id in img.layers:
            return store.ensure_layer(img, img.layers.index(Digest(diff_id)))
    raise StoreError(f"layer {diff_id} of {what} is missing")


def cleanup_dead(store: Store) -> list[str]:
    """Remove build-internal containers whose process died (after a crash or kill)."""
    removed = []
    for wc in WorkingContainer.all(store):
        if not wc.state.internal:
            continue
        if not pid_alive(wc.state.pid):
            with contextlib.suppress(Exception):
                wc.remove()
                removed.append(wc.id)
    return removed
