"""The registry client: the distribution API over httpx and the ``docker://`` transport.

Modules: ``client`` (RegistryClient/Repository: manifests, blobs, uploads, tags, retries),
``auth`` (the httpx.Auth flow: Basic and Bearer challenges, token cache), ``credentials``
(auth.json, Docker config, credential helpers), ``config`` (registries.conf),
``transport`` (ImageSource/ImageDestination for ``docker://``, ``inspect``, ``list_tags``),
``login`` (check credentials against the registry, then store them; logout).
Names are imported lazily so ``import pybuild.oci.registry`` does not import httpx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RegistryOptions": "pybuild.oci.registry.client",
    "RegistryClient": "pybuild.oci.registry.client",
    "open_source": "pybuild.oci.registry.transport",
    "open_destination": "pybuild.oci.registry.transport",
    "inspect": "pybuild.oci.registry.transport",
    "list_tags": "pybuild.oci.registry.transport",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
