"""An image's root filesystem for the catalogers, from the store or from any transport.

A store image is read in place: its unpacked layers (overlay form) merged by :class:`RootFS`,
nothing copied. An image elsewhere (``oci:DIR:tag``, ``docker://``, an archive) is unpacked,
whiteouts applied, into a private temporary directory that is removed afterwards; each layer's
diff_id must be the one its config names before anything is catalogued from it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pybuild.builder.store import Image, Store
from pybuild.errors import IntegrityError
from pybuild.sbom.document import Subject
from pybuild.sbom.rootfs import RootFS


@contextmanager
def store_rootfs(store: Store, image: Image) -> Iterator[tuple[RootFS, Subject]]:
    layers = [store.ensure_layer(image, i) for i in range(len(image.layers))]
    name = image.names[0] if image.names else image.id
    yield RootFS(layers), Subject(name, str(image.digest))


@contextmanager
def transport_rootfs(spec_: str, *, platform: str | None = None,
                     **options: Any) -> Iterator[tuple[RootFS, Subject]]:
    from pybuild.oci import spec
    from pybuild.oci.resolve import resolve
    from pybuild.oci.tarapply import apply_tar
    from pybuild.oci.transport import open_source

    tmp = tempfile.mkdtemp(prefix="pybuild-sbom-")
    try:
        src = open_source(spec_, **options)
        try:
            found = resolve(src, platform)
            diff_ids = (spec.load_json(found.config, "config").get("rootfs") or {}).get("diff_ids") or []
            if len(diff_ids) != len(found.manifest.layers):
                raise IntegrityError(f"the config names {len(diff_ids)} layers, the manifest "
                                     f"{len(found.manifest.layers)}", where=spec_)
            for desc, want in zip(found.manifest.layers, diff_ids, strict=True):
                blob = src.get_blob(desc)
                try:
                    got = apply_tar(blob, tmp, whiteouts="apply")
                finally:
                    blob.close()
                if str(got) != want:
                    raise IntegrityError(f"layer {desc.digest} unpacks to {got}, the config says {want}",
                                         where=spec_)
        finally:
            src.close()
        yield RootFS([tmp]), Subject(spec_, str(found.manifest_digest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def image_rootfs(store: Store | None, ref: str, *, platform: str | None = None,
                 **options: Any) -> Iterator[tuple[RootFS, Subject]]:
    """``ref``'s tree: a transport spec is read where it is; anything else names a store image."""
    from pybuild.oci.transport import is_transport_spec

    if is_transport_spec(ref) or store is None:
        with transport_rootfs(ref, platform=platform, **options) as found:
            yield found
        return
    image = store.image(ref)
    if platform:  # a store image is one platform's: say so when it is not the one asked for
        from pybuild.errors import ImageNotFound
        from pybuild.oci.platform_host import config_platform, parse_platform

        have = config_platform(image.config)
        if parse_platform(platform, "--platform").match_rank(have) is None:
            raise ImageNotFound(f"image {ref} is {have}, not {platform}")
    with store_rootfs(store, image) as found:
        yield found


FORMATS = ("spdx-json", "cyclonedx-json")


def check_format(fmt: str) -> str:
    from pybuild.errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"unknown SBOM format {fmt!r} (use {' or '.join(FORMATS)})")
    return fmt


def render(found: Any, root: RootFS, subject: Subject, fmt: str, *, epoch: int | None = None) -> bytes:
    """The document in ``fmt`` (one of :data:`FORMATS`)."""
    if check_format(fmt) == "spdx-json":
        from pybuild.sbom import spdx

        return spdx.render(found, root, subject, epoch=epoch)
    from pybuild.sbom import cyclonedx

    return cyclonedx.render(found, root, subject, epoch=epoch)


def sbom(store: Store | None, ref: str, fmt: str = "spdx-json", *, platform: str | None = None,
         epoch: int | None = None, **options: Any) -> bytes:
    """The SBOM of image ``ref`` (a store image or any transport) in ``fmt``."""
    from pybuild.sbom import catalog

    check_format(fmt)
    with image_rootfs(store, ref, platform=platform, **options) as (root, subject):
        return render(catalog(root), root, subject, fmt, epoch=epoch)
