"""Manifest lists (multi-platform image indexes) in the local store, as buildah's
``manifest create|add|annotate|remove|rm|inspect|push|exists`` handle them.

Public (re-exported by ``pybuild``). A list's instances are store images or images elsewhere
(``docker://...``, ``oci:...``), fetched when the list is pushed. ``store`` is a
:class:`pybuild.Store` or its root (default: :func:`pybuild.default_root`); registry options
are ``pybuild.pull``'s keywords. Calls that change a list return its new digest."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pybuild.events import EventCallback

if TYPE_CHECKING:
    from pybuild.api import Store
    from pybuild.oci.digest import Digest

StrPath = str | os.PathLike[str]
Annotations = Mapping[str, str] | Sequence[str] | None


def annotations_of(items: Annotations) -> dict[str, str]:
    """A mapping as given, or ``KEY=VALUE`` words (``--annotation``); a word without ``=`` or
    key is one ConfigError line."""
    from pybuild.errors import ConfigError

    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise ConfigError(f"invalid --annotation {item!r} (use KEY=VALUE)")
        out[key] = value
    return out


def _store(store: Store | StrPath | None) -> Store:
    from pybuild.api import _open

    return _open(store)


def manifest_create(name: str, images: Sequence[str] = (), *, store: Store | StrPath | None = None,
                    all_platforms: bool = False, amend: bool = False, **registry_options: Any) -> Digest:
    """Create the list ``name`` (``amend``: reuse it if it exists) with ``images`` in it
    (``all_platforms``: every platform of those that are indexes)."""
    from pybuild.builder import manifest_list

    s = _store(store)
    lst = manifest_list.create(s, name, amend=amend)
    for image in images:
        manifest_list.add(s, lst.name, image, all_platforms=all_platforms, **registry_options)
    return manifest_list.get(s, lst.name).digest


def manifest_add(name: str, image: str, *, store: Store | StrPath | None = None, arch: str | None = None,
                 os: str | None = None, variant: str | None = None, annotations: Annotations = None,
                 all_platforms: bool = False, **registry_options: Any) -> tuple[Digest, list[Digest]]:
    """Add ``image`` (a store image, or a transport spec such as ``docker://REF``) to the list
    ``name``, recording ``arch``/``os``/``variant`` over the image's own; returns the list's
    digest and the digests of the instances added (several for an index with ``all_platforms``)."""
    from pybuild.builder import manifest_list

    s = _store(store)
    added = manifest_list.add(s, name, image, arch=arch, os=os, variant=variant,
                              annotations=annotations_of(annotations), all_platforms=all_platforms,
                              **registry_options)
    return manifest_list.get(s, name).digest, added


def manifest_annotate(name: str, image: str, *, store: Store | StrPath | None = None, arch: str | None = None,
                      os: str | None = None, variant: str | None = None, os_version: str | None = None,
                      os_features: Sequence[str] = (), features: Sequence[str] = (),
                      annotations: Annotations = None) -> Digest:
    """Change what the list ``name`` records for ``image`` (an instance's digest or a local
    image); returns the instance's digest. ``features`` are refused: OCI indexes have none."""
    from pybuild.builder import manifest_list

    return manifest_list.annotate(_store(store), name, image, arch=arch, os=os, variant=variant,
                                  os_version=os_version, os_features=list(os_features), features=list(features),
                                  annotations=annotations_of(annotations))


def manifest_remove(name: str, digest: str, *, store: Store | StrPath | None = None) -> Digest:
    """Remove the instance ``digest`` from the list ``name``."""
    from pybuild.builder import manifest_list

    s = _store(store)
    manifest_list.remove(s, name, digest)
    return manifest_list.get(s, name).digest


def manifest_delete(name: str, *, store: Store | StrPath | None = None) -> str:
    """Delete the list ``name`` from the store (its images stay; ``Store.gc`` frees what only
    it used); returns what was deleted, as ``manifest rm`` prints it."""
    from pybuild.builder import manifest_list

    return manifest_list.delete(_store(store), name)


def manifest_exists(name: str, *, store: Store | StrPath | None = None) -> bool:
    """Whether the list ``name`` is in the store."""
    from pybuild.builder import manifest_list

    return manifest_list.find(_store(store), name) is not None


def manifest_inspect(name: str, *, store: Store | StrPath | None = None, **registry_options: Any) -> dict[str, Any]:
    """The index of the list ``name``: the store's, else (a transport spec, or a name with a
    registry host) the manifest read from there; ImageNotFound when neither."""
    from pybuild.builder import manifest_list
    from pybuild.oci import spec
    from pybuild.oci.transport import is_transport_spec
    from pybuild.remote import fetch_manifest

    s = _store(store)
    lst = None if is_transport_spec(name) else manifest_list.find(s, name)
    first = name.split("/", 1)[0]
    names_registry = "/" in name and ("." in first or ":" in first)
    if lst is not None:
        raw = lst.raw
    elif not is_transport_spec(name) and not names_registry:
        raw = manifest_list.get(s, name).raw  # raises: no such list, and no registry named to ask
    else:
        raw = fetch_manifest(name, **registry_options)
    result: dict[str, Any] = spec.load_json(raw, "manifest")
    return result


def manifest_push(name: str, destination: str | None = None, *, store: Store | StrPath | None = None,
                  all_instances: bool = True, format: str | None = None, compression: str | None = None,
                  on_event: EventCallback | None = None, **registry_options: Any) -> Digest:
    """Push the list ``name`` (with its images unless ``all_instances`` is false) to
    ``destination`` (a transport spec or a registry reference; default ``docker://NAME``);
    ``format``: oci, docker or its alias v2s2. Returns the digest of the list pushed."""
    from pybuild.builder import manifest_list
    from pybuild.remote import remote_spec

    s = _store(store)
    lst = manifest_list.get(s, name)
    return manifest_list.push(s, lst.name, remote_spec(destination or name), all_instances=all_instances,
                              format="docker" if format == "v2s2" else format, compression=compression,
                              on_event=on_event, **registry_options)


__all__ = ["manifest_create", "manifest_add", "manifest_annotate", "manifest_remove", "manifest_delete",
           "manifest_exists", "manifest_inspect", "manifest_push"]
