"""Layers: a directory or overlay upperdir -> a deterministic tar blob; a tar blob -> a tree.

``write_layer`` streams the tar once, computing the diff_id (sha256 of the tar), the
compressed digest and size on the way (tarwriter.py: the format, and why it matches
buildah's byte for byte). ``apply_layer`` unpacks a layer written by a stranger without ever
writing outside its target (tarapply.py: how containment is built) and returns the diff_id
it saw, for the caller to compare with the image config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pybuild.events import EventCallback
from pybuild.oci.digest import Digest
from pybuild.oci.tarwriter import write_tar

if TYPE_CHECKING:
    from pybuild.oci.tarapply import Limits

# The same strings as pybuild.oci.spec's constants; kept here so layer.py stands alone.
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
_MEDIA_TYPES = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


@dataclass(frozen=True)
class LayerInfo:
    """What a manifest (digest, size, media type) and a config (diff_id) need of a layer."""

    diff_id: Digest
    digest: Digest
    size: int
    media_type: str
    uncompressed_size: int


def write_layer(source: Path, out: BinaryIO, *, compression: str = "none", overlay_upper: bool = False,
                timestamp: int | None = None, clamp_mtime: int | None = None,
                exclude: Callable[[str], bool] | None = None) -> LayerInfo:
    """Write the layer tar of ``source`` (compressed as asked) to ``out``.

    ``overlay_upper``: ``source`` is an overlay upperdir; 0/0 character devices become
    ``.wh.NAME`` entries and opaque directories get a ``.wh..wh..opq`` entry.
    ``timestamp`` sets every mtime; ``clamp_mtime`` caps them (SOURCE_DATE_EPOCH style).
    ``exclude(relpath)`` returning True leaves out an entry and everything below it.
    """
    diff_id, digest, size, raw_size = write_tar(
        Path(source), out, compression=compression, overlay_upper=overlay_upper, timestamp=timestamp,
        clamp_mtime=clamp_mtime, exclude=exclude)
    return LayerInfo(diff_id=diff_id, digest=digest, size=size, media_type=_MEDIA_TYPES[compression],
                     uncompressed_size=raw_size)


class _Discard:
    """A sink that keeps nothing: for when only the digests of a layer are wanted."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def layer_digests(source: Path, *, overlay_upper: bool = False, timestamp: int | None = None,
                  clamp_mtime: int | None = None, exclude: Callable[[str], bool] | None = None) -> LayerInfo:
    """The diff_id (and size) ``source`` would have as an uncompressed layer, writing nothing:
    a built layer stays a directory until it is pushed."""
    return write_layer(source, _Discard(), compression="none", overlay_upper=overlay_upper,  # type: ignore[arg-type]
                       timestamp=timestamp, clamp_mtime=clamp_mtime, exclude=exclude)


def apply_layer(stream: BinaryIO, target: Path, *, whiteouts: str = "overlay", limits: Limits | None = None,
                on_event: EventCallback | None = None) -> Digest:
    """Unpack the layer ``stream`` (gzip, zstd or plain: sniffed) under ``target``.

    ``whiteouts="overlay"``: ``target`` is an empty directory that becomes an overlay lower
    layer (``.wh.X`` -> a 0/0 character device, ``.wh..wh..opq`` -> ``trusted.overlay.opaque``;
    needs root). ``"apply"``: ``target`` holds the layers below; whiteouts delete.
    Returns the diff_id (sha256 of the uncompressed tar). Raises UnsafeContentError for
    entries that would leave ``target`` or exceed ``limits``. Without root, owners are not
    set and device nodes are skipped (a WARNING event names each).
    """
    from pybuild.oci.tarapply import apply_tar

    return apply_tar(stream, target, whiteouts=whiteouts, limits=limits, on_event=on_event)


def __getattr__(name: str) -> Any:
    """``Limits`` on first use: a build that unpacks nothing (its base already unpacked, the
    layers it makes written, not read) needs no unpacker, decompressor or pybuild.conf reader."""
    if name == "Limits":
        from pybuild.oci.tarapply import Limits

        return Limits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LayerInfo", "Limits", "write_layer", "apply_layer", "OCI_LAYER", "OCI_LAYER_GZIP",
           "OCI_LAYER_ZSTD"]
