"""``import TARBALL [NAME]`` (podman import): a root filesystem tarball becomes a one-layer image.

The tarball (plain, gzip, zstd, bzip2 or xz, as debootstrap or ``tar -C rootfs`` make them)
is served as an image source and copied into the store like any pulled image, so the same
checks apply: the layer's digest and diff_id are verified on the way in, and its entries are
contained in the root when a container first unpacks it (never at import). A gzip, zstd or
plain tarball is the layer blob byte for byte; bzip2 and xz have no OCI media type, so such a
tarball is stored uncompressed.

``changes`` are podman's ``--change`` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR), applied to the new config as a Containerfile's
would be; variables in them are not expanded (there is no build to take them from).
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tempfile
import time
from typing import Any, BinaryIO

from pybuild.builder.store import Image, Store
from pybuild.errors import ConfigError, InvalidReference, PybuildError
from pybuild.events import EventCallback
from pybuild.oci import spec
from pybuild.oci.digest import CHUNK, Digest, HashingWriter

CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


class _TarballSource:
    """An ImageSource of one manifest, one config and the tarball as its layer."""

    def __init__(self, reference: str, manifest: bytes, config: bytes, layer: spec.Descriptor, path: str) -> None:
        self.reference = reference
        self._manifest = manifest
        self._config = config
        self._layer = layer
        self._path = path

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        return self._manifest, spec.OCI_MANIFEST

    def get_blob(self, desc: spec.Descriptor) -> BinaryIO:
        if desc.digest == self._layer.digest:
            return open(self._path, "rb")  # noqa: SIM115 - copy_image closes (and verifies) it
        return io.BytesIO(self._config)

    def close(self) -> None:
        pass


def _measure(path: str, where: str, tmpdir: str) -> tuple[str, str, Digest, int]:
    """(blob path, compression, diff_id, blob size); bzip2/xz are decompressed to a temp file."""
    from pybuild.oci.compress import decompressing_reader, detect

    with open(path, "rb") as f:
        compression = detect(f.read(6))
        f.seek(0)
        plain = decompressing_reader(f, where=where)
        out = None
        if compression in ("bzip2", "xz"):
            fd, blob_path = tempfile.mkstemp(prefix=".import-", dir=tmpdir)
            out = os.fdopen(fd, "wb")
        try:
            hashing = HashingWriter(out)
            first = True
            while chunk := plain.read(CHUNK):
                if first:
                    _check_tar(chunk, where)
                    first = False
                hashing.write(chunk)
            if first:
                raise ConfigError(f"{where}: the file is empty, not a tar archive")
        except BaseException:
            if out is not None:
                out.close()
                os.unlink(blob_path)
            raise
        if out is not None:
            out.close()
            return blob_path, "none", hashing.digest, os.path.getsize(blob_path)
    return path, compression, hashing.digest, os.path.getsize(path)


def _check_tar(head: bytes, where: str) -> None:
    import tarfile

    if len(head) < 512:
        raise ConfigError(f"{where}: not a tar archive (shorter than one tar header)")
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        raise ConfigError(f"{where}: not a tar archive") from None


def apply_changes(config: spec.ImageConfig, changes: list[str] | tuple[str, ...]) -> None:
    """Apply podman's ``--change`` instructions to ``config`` (one instruction each)."""
    from pybuild.builder.containerfile import instructions as ins
    from pybuild.builder.containerfile import parse

    cfg = config.config
    for text in changes:
        keyword = text.strip().split(None, 1)[0].upper() if text.strip() else ""
        if keyword not in CHANGES:
            raise ConfigError(f"--change {text!r}: {keyword or 'an empty instruction'} cannot be applied "
                              f"(use one of {', '.join(CHANGES)})")
        try:
            nodes = parse(text + "\n", filename="--change").nodes
            if len(nodes) != 1:
                raise ConfigError(f"--change {text!r}: give one instruction per --change")
            instr = ins.from_node(nodes[0], "--change")
        except PybuildError as e:
            raise ConfigError(f"--change {text!r}: {e}") from None
        _apply(cfg, instr, ins)


def _argv(command: list[str] | str | None, exec_form: bool) -> list[str]:
    if command is None:
        return []
    return list(command) if exec_form or isinstance(command, list) else ["/bin/sh", "-c", command]


def _apply(cfg: spec.ContainerConfig, instr: Any, ins: Any) -> None:
    if isinstance(instr, ins.Cmd):
        cfg.cmd = _argv(instr.command, instr.is_exec_form)
    elif isinstance(instr, ins.Entrypoint):
        cfg.entrypoint = _argv(instr.command, instr.is_exec_form)
    elif isinstance(instr, ins.Env):
        for key, value in instr.pairs:
            cfg.env = [e for e in cfg.env if e.partition("=")[0] != key] + [f"{key}={value}"]
    elif isinstance(instr, ins.Label):
        cfg.labels.update(dict(instr.pairs))
    elif isinstance(instr, ins.Expose):
        for port in ins.expose_ports(list(instr.ports)):
            cfg.exposed_ports[port] = {}
    elif isinstance(instr, ins.Volume):
        for path in instr.paths:
            cfg.volumes[path] = {}
    elif isinstance(instr, ins.Workdir):
        cfg.working_dir = posixpath.join(cfg.working_dir or "/", instr.path)
    elif isinstance(instr, ins.User):
        cfg.user = instr.user
    elif isinstance(instr, ins.StopSignal):
        cfg.stop_signal = instr.signal
    elif isinstance(instr, ins.Onbuild):
        cfg.on_build.append(instr.expression)


def import_tarball(store: Store, path: str, name: str | None = None, *, changes: list[str] | tuple[str, ...] = (),
                   message: str = "", platform: str | None = None,
                   on_event: EventCallback | None = None) -> Image:
    """Make an image of the root filesystem tarball at ``path``, named ``name`` if given."""
    from pybuild.builder.store_transport import StoreDestination
    from pybuild.oci.platform_host import host_platform, parse_platform
    from pybuild.oci.transport import copy_image

    if "://" in path:
        raise ConfigError(f"{path}: import reads a local tarball (download a remote one first)")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file")
    names: list[str] = []
    if name:
        from pybuild.builder.store import normalize_name

        try:
            names = [normalize_name(name)]
        except InvalidReference as e:
            raise ConfigError(f"{name}: not a valid image name ({e})") from None
    want = parse_platform(platform, "--platform") if platform else None
    host = host_platform()
    created = spec.rfc3339(time.time())
    with tempfile.TemporaryDirectory(prefix=".import-", dir=store.root) as tmpdir:
        blob_path, compression, diff_id, size = _measure(path, path, tmpdir)
        blob_digest = _file_digest(blob_path)
        config = spec.ImageConfig(
            architecture=want.architecture if want else host.architecture, os=want.os if want else "linux",
            variant=(want.variant if want else host.variant) or None, created=created,
            rootfs_diff_ids=[diff_id],
            history=[spec.History(created=created, created_by=f"/bin/sh -c #(nop) ADD file:{diff_id.hex} in /",
                                  comment=message)])
        apply_changes(config, changes)
        config_bytes = config.to_json()
        layer = spec.Descriptor(spec.layer_media_type(compression), blob_digest, size)
        manifest = spec.Manifest(spec.Descriptor(spec.OCI_CONFIG, Digest.of_bytes(config_bytes),
                                                 len(config_bytes)), [layer])
        src = _TarballSource(path, manifest.to_json(), config_bytes, layer, blob_path)
        dst = StoreDestination(store, names)
        try:
            copy_image(src, dst, on_event=on_event)
        finally:
            with contextlib.suppress(Exception):
                dst.close()
    assert dst.image is not None
    return dst.image


def _file_digest(path: str) -> Digest:
    with open(path, "rb") as f:
        h = HashingWriter(None)
        while chunk := f.read(CHUNK):
            h.write(chunk)
    return h.digest
