"""The config bytes an image is recorded with, per manifest format; the image ID is their digest.

As in buildah, a Docker-format image carries ``container_config`` (the container's settings
when it was committed; here the same as ``config``, with no random container ID, so a build
stays reproducible), which an OCI config lacks. So the two formats of the same content are
two images with two IDs, and one never takes over the other's tags or format. What a base
image says about the container that made it (``container``, ``container_config``,
``docker_version``) describes that base, not this image, and is dropped.
"""

from __future__ import annotations

from pybuild.oci.spec import ImageConfig

_ABOUT_THE_MAKER = ("container", "container_config", "docker_version")


def config_bytes(config: ImageConfig, format: str) -> bytes:
    """``config`` as the ``format`` ("oci" or "docker") image's config blob."""
    out = config.copy()
    for key in _ABOUT_THE_MAKER:
        out.extra.pop(key, None)
        out.source_shape.pop(key, None)
    docker = format == "docker"
    if docker:
        out.extra["container_config"] = out.config.to_dict(docker=True)
    return out.to_json(docker=docker)
