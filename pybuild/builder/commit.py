"""The one way an image is written, for `bud` (steps.write_final_image) and `commit`
(workflow.commit): the config in the format asked, the store record, what the build asked
beyond the config (image-meta), then the announcement (the IMAGE event, --iidfile, --manifest).

What differs between the two stays with them: how the config and layers are made (a build's
final stage, --squash, the dates; a working container's last layer) and their progress lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from pybuild.builder.records import ImageMeta
from pybuild.builder.store import Image, Store
from pybuild.events import IMAGE, WARNING, EventCallback, emit
from pybuild.oci.spec import ImageConfig


def write_image(store: Store, config: ImageConfig, layers: Sequence[str], *, format: str, names: list[str],
                created: str, meta: ImageMeta) -> Image:
    """Record an image of ``layers`` and ``config`` named ``names``. ``meta`` (format,
    annotations, compression: push's defaults) is kept when it says more than the default,
    or replaces what the same image had (the same image made again asks afresh)."""
    from pybuild.builder.container import ensure_layer_any
    from pybuild.builder.image_format import config_bytes
    from pybuild.builder.records import digests

    config.rootfs_diff_ids = digests(layers)
    store.hold(layers=layers)  # leased before they are looked at, as every write is
    for diff_id in layers:  # unpacked, so push can make blobs of them
        ensure_layer_any(store, diff_id, "the image")
    img = store.add_image(config_bytes(config, format), layers, names=names, created=created)
    if meta != ImageMeta() or store.image_meta(img.id) != ImageMeta():
        store.set_image_meta(img.id, meta)
    return img


def announce(store: Store, image: Image, *, names: list[str], iidfile: str | None, manifest: str | None,
             on_event: EventCallback | None) -> None:
    """The IMAGE event, then ``--iidfile`` and ``--manifest`` (the list made when absent)."""
    emit(on_event, IMAGE, image.id, id=image.id, names=names)
    if iidfile:
        with open(iidfile, "w") as f:
            f.write("sha256:" + image.id)
    if manifest:
        add_to_list(store, manifest, image.id)


def add_to_list(store: Store, name: str, image_id: str) -> None:
    """--manifest NAME (bud, commit): the image joins the list NAME, made when it is absent."""
    from pybuild.builder import manifest_list

    manifest_list.create(store, name, amend=True)
    manifest_list.add(store, name, image_id)


def drop_docker_only(config: ImageConfig, on_event: EventCallback | None) -> None:
    """An OCI config has no HEALTHCHECK, ONBUILD or SHELL: drop them with buildah's warning."""
    dropped = [name for name, v in (("HEALTHCHECK", config.config.healthcheck),
                                    ("ONBUILD", config.config.on_build),
                                    ("SHELL", config.config.shell)) if v]
    for name in dropped:
        emit(on_event, WARNING, f"{name} is not supported for OCI image format and will be "
                                "ignored. Must use `docker` format")
    config.config.healthcheck = None
    config.config.on_build = []
    config.config.shell = []


__all__ = ["write_image", "announce", "add_to_list", "drop_docker_only"]
