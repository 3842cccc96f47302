"""Registry and transport verbs that need no store: log in and out, list a repository's
tags, read an image's manifest and config where it is (skopeo's ``inspect``).

Public (re-exported by ``pybuild``): what ``pybuild login``, ``logout``, ``image inspect``
and ``image list-tags`` run. A bare reference means ``docker://REF`` (:func:`remote_spec`).
Registry options are the keywords ``pybuild.pull`` takes (``tls_verify``, ``creds``,
``authfile``, ``cert_dir``, ``retry``, ``retry_delay``)."""

from __future__ import annotations

from typing import Any


def remote_spec(ref: str) -> str:
    """``ref`` as a transport spec: itself when it names one (``oci:DIR``...), else ``docker://ref``."""
    from pybuild.oci.transport import is_transport_spec

    return ref if is_transport_spec(ref) else f"docker://{ref}"


def registry_options(keywords: dict[str, Any]) -> Any:
    """The RegistryOptions the keywords give over the configured ones (None values ignored)."""
    from pybuild.oci.registry.options import from_keywords

    return from_keywords(None, keywords)


def login(registry: str, username: str, password: str, *, tls_verify: bool | None = None,
          authfile: str | None = None, cert_dir: str | None = None) -> str:
    """Check the credentials against ``registry`` (``GET /v2/``), then store them; returns the
    auth file written ($REGISTRY_AUTH_FILE or podman's unless ``authfile``)."""
    from pybuild.oci.registry import login as login_mod

    options = registry_options({"tls_verify": tls_verify, "authfile": authfile, "cert_dir": cert_dir})
    return login_mod.login(registry, username, password, options)


def logout(registry: str | None = None, *, all: bool = False, authfile: str | None = None) -> None:
    """Forget the stored credentials of ``registry``, or of every registry with ``all``; one
    AuthError line when ``registry`` had none."""
    from pybuild.errors import AuthError, ConfigError
    from pybuild.oci.registry import login as login_mod

    if all == bool(registry):
        raise ConfigError("give a REGISTRY or --all")
    removed = login_mod.logout(None if all else registry, registry_options({"authfile": authfile}))
    if not all and not removed:
        raise AuthError("not logged in", where=registry)


def stored_username(registry: str, *, authfile: str | None = None) -> str:
    """The user name stored for ``registry`` (``login --get-login``); AuthError when none."""
    from pybuild.oci.registry import credentials
    from pybuild.oci.registry.login import normalize_registry

    return credentials.stored_username(normalize_registry(registry), authfile=authfile)


def list_tags(repository: str, *, page_size: int | None = None, **options: Any) -> dict[str, Any]:
    """Every tag of a registry repository, all pages: ``{"Repository": NAME, "Tags": [...]}``
    as ``skopeo list-tags`` prints it. A tag or digest in ``repository`` is refused."""
    from pybuild.errors import InvalidReference
    from pybuild.oci.reference import Reference
    from pybuild.oci.registry import transport as registry
    from pybuild.oci.transport import split_spec

    spec = remote_spec(repository)
    transport, rest = split_spec(spec)
    if transport != "docker":
        raise InvalidReference(f"list-tags reads registries only (docker://REPO), not {transport}:")
    ref = Reference.parse(rest)
    if ref.digest is not None or (ref.tag and rest.rsplit("/", 1)[-1].count(":")):
        raise InvalidReference(f"{repository}: give a repository without a tag or digest")
    tags = registry.list_tags(spec, registry_options(options), page_size=page_size)
    return {"Repository": ref.name, "Tags": tags}


def fetch_manifest(ref: str, **options: Any) -> bytes:
    """The top-level manifest (or index) of ``ref``, its bytes exactly as stored."""
    from pybuild.oci.transport import open_source

    src = open_source(remote_spec(ref), **_transport_options(options))
    try:
        data, _ = src.get_manifest()
    finally:
        src.close()
    return data


def fetch_config(ref: str, *, platform: str | None = None, **options: Any) -> bytes:
    """The config blob of ``ref`` (of ``platform``'s image in an index; default this host's),
    verified, bytes exact; no layer is read."""
    return _resolve(remote_spec(ref), platform, _transport_options(options))["config"]


def inspect_remote(ref: str, *, platform: str | None = None, tags: bool = True, config: bool = False,
                   **options: Any) -> dict[str, Any]:
    """What ``skopeo inspect`` shows of ``ref`` without pulling its layers: name, digest, the
    repository's tags (registries only, unless ``tags`` is false), created, labels,
    architecture, os, layers, env, in skopeo's order. ``config``: the image config instead."""
    from pybuild.oci import spec

    ref = remote_spec(ref)
    kw = _transport_options(options)
    info = _resolve(ref, platform, kw)
    if config:
        result: dict[str, Any] = spec.load_json(info["config"], "config")
        return result
    listed: list[str] | None = None
    if ref.startswith("docker://"):
        if tags:
            from pybuild.oci.registry.transport import list_tags as all_tags

            listed = all_tags(ref, registry_options(kw))
    elif tags:
        listed = []
    return _skopeo_shape(ref, info, listed)


def _transport_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _resolve(ref: str, platform: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Top-level manifest bytes, the platform's manifest and its config; no layer is read."""
    from pybuild.oci.resolve import resolve
    from pybuild.oci.transport import open_source

    src = open_source(ref, **options)
    try:
        found = resolve(src, platform)
        return {"source": src, "raw": found.raw, "digest": found.digest, "manifest": found.manifest,
                "config": found.config}
    finally:
        src.close()


def _skopeo_shape(ref: str, info: dict[str, Any], tags: list[str] | None) -> dict[str, Any]:
    """The fields and order of `skopeo inspect`."""
    from pybuild.oci import spec
    from pybuild.oci.transport import split_spec

    cfg = spec.load_json(info["config"], "config")
    inner = cfg.get("config") or {}
    transport, rest = split_spec(ref)
    name = ""
    if transport == "docker":
        src = info["source"]
        name = (src.resolved or src.ref).name if hasattr(src, "ref") else rest
    out: dict[str, Any] = {"Name": name} if name else {}  # skopeo omits an empty Name
    out["Digest"] = str(info["digest"])
    if tags is not None:
        out["RepoTags"] = tags
    out["Created"] = cfg.get("created")
    out["DockerVersion"] = cfg.get("docker_version", "")
    out["Labels"] = inner.get("Labels")
    out["Architecture"] = cfg.get("architecture", "")
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    out["Os"] = cfg.get("os", "")
    layers = info["manifest"].layers
    out["Layers"] = [str(d.digest) for d in layers]
    out["LayersData"] = [{"MIMEType": d.media_type, "Digest": str(d.digest), "Size": d.size,
                          "Annotations": d.annotations} for d in layers]
    out["Env"] = inner.get("Env")
    return out


__all__ = ["remote_spec", "login", "logout", "stored_username", "list_tags", "fetch_manifest", "fetch_config",
           "inspect_remote"]
