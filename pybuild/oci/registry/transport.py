"""The ``docker://`` transport: an ImageSource and ImageDestination over a registry.

``docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]``; ``ref`` below is the part after
``docker://``. Short names go to docker.io/library as Docker does, unless
registries.conf lists ``unqualified-search-registries`` (then each is tried in order
when pulling; the first is used when pushing). ``[[registry]]`` entries rewrite a
prefix to their ``location``, may be ``insecure`` or ``blocked``, and their mirrors are
tried before the registry itself when pulling (never when pushing).

Cross-repository mounts: ``put_blob`` mounts instead of uploading when it knows the blob
lives in another repository of the same registry — because ``RegistryOptions.mount_from``
maps the digest to that repository, because the descriptor carries the annotation
``io.pybuild.mount-from`` naming it, or because this process pulled or pushed the blob
there before.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from pybuild.errors import AuthError, ConfigError, InvalidReference, RegistryError, RegistryNotFound
from pybuild.events import EventCallback
from pybuild.oci import spec
from pybuild.oci.digest import Digest, read_upto
from pybuild.oci.reference import Reference, is_short_name
from pybuild.oci.registry import config as config_mod
from pybuild.oci.registry.client import (
    MOUNT_FROM_ANNOTATION,
    RegistryClient,
    RegistryOptions,
    Repository,
    emit_blob,
    known_locations,
    progress_emitter,
)


@dataclass(frozen=True)
class Endpoint:
    """Where to find (or put) an image: a registry host and a repository in it."""

    registry: str
    repository: str
    insecure: bool
    mirror: bool = False

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def _strip(ref: str) -> str:
    return ref[2:] if ref.startswith("//") else ref


def _endpoint_for(reference: Reference, conf: config_mod.RegistriesConfig, *, pull: bool) -> list[Endpoint]:
    """The locations for one fully qualified reference: mirrors first (pull only), then the
    registry (with its prefix rewritten to its location)."""
    entry = conf.find(reference.name)
    if entry is not None and entry.blocked:
        raise ConfigError(f"registry {entry.prefix} is blocked in registries.conf", where=str(reference))
    target, _ = conf.rewrite(reference.name)
    out: list[Endpoint] = []
    if pull and entry is not None:
        rest = reference.name[len(entry.prefix):]
        for m in entry.mirrors:
            by_digest_only = entry.mirror_by_digest_only or m.pull_from_mirror == "digest-only"
            if by_digest_only and reference.digest is None:
                continue
            if m.pull_from_mirror == "tag-only" and reference.digest is not None:
                continue
            host, _, repo = (m.location + rest).partition("/")
            out.append(Endpoint(host, repo, m.insecure or conf.is_insecure(host), mirror=True))
    host, _, repo = target.partition("/")
    if not repo:
        raise InvalidReference(f"registries.conf location {target!r} leaves no repository", where=str(reference))
    out.append(Endpoint(host, repo, (entry.insecure if entry is not None else False) or conf.is_insecure(host)))
    return out


def resolve(ref: str, options: RegistryOptions, *, pull: bool) -> tuple[Reference, list[Endpoint]]:
    """The reference as the user will see it, and the endpoints to try, in order."""
    raw = _strip(ref)
    conf = config_mod.load(options.registries_conf)
    if is_short_name(raw) and conf.unqualified_search_registries:
        refs = [Reference.parse(f"{r}/{raw}") for r in conf.unqualified_search_registries]
        if not pull:
            refs = refs[:1]
    else:
        refs = [Reference.parse(raw)]
    endpoints: list[Endpoint] = []
    for r in refs:
        endpoints.extend(_endpoint_for(r, conf, pull=pull))
    return refs[0], endpoints


class _Clients:
    """RegistryClients by (host, insecure), so every repository on a host shares one pool."""

    def __init__(self, options: RegistryOptions) -> None:
        self.options = options
        self._clients: dict[tuple[str, bool], RegistryClient] = {}

    def get(self, ep: Endpoint) -> RegistryClient:
        key = (ep.registry, ep.insecure)
        if key not in self._clients:
            self._clients[key] = RegistryClient(ep.registry, self.options, insecure=ep.insecure)
        return self._clients[key]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()


class RegistrySource:
    """Reads an image from a registry: manifests as exact bytes, blobs as resuming streams."""

    parallel = 4  # blob fetches share one thread-safe client

    def __init__(self, ref: str, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        self.ref, self._endpoints = resolve(ref, self.options, pull=True)
        self.reference = f"docker://{self.ref}"
        self._clients = _Clients(self.options)
        self._repo: Repository | None = None
        self.resolved: Reference | None = None  # the reference that answered (after search/mirrors)
        self.digest: Digest | None = None  # the top-level manifest's digest, once fetched

    def _candidates(self) -> list[tuple[Endpoint, Reference]]:
        out = []
        for ep in self._endpoints:
            out.append((ep, Reference(ep.registry, ep.repository, self.ref.tag, self.ref.digest)))
        return out

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        """The top-level manifest/index (first endpoint that has it), or a child by digest."""
        if digest is not None:
            repo = self._repository()
            raw, media_type, _ = repo.get_manifest(str(Digest(digest)))
            return raw, media_type
        errors: list[RegistryError] = []
        for ep, ref in self._candidates():
            repo = self._clients.get(ep).repository(ep.repository)
            try:
                raw, media_type, got = repo.get_manifest(ref.reference)
            except (RegistryNotFound, AuthError) as e:
                errors.append(e)
                continue
            except RegistryError as e:
                if ep.mirror:  # a mirror that is down is skipped, as containers/image does
                    errors.append(e)
                    continue
                raise
            self._repo, self.resolved, self.digest = repo, ref, got
            return raw, media_type
        if len(errors) == 1:
            raise errors[0]
        raise RegistryNotFound("; ".join(str(e) for e in errors), where=self.reference)

    def _repository(self) -> Repository:
        if self._repo is None:
            self.get_manifest()
        assert self._repo is not None
        return self._repo

    def get_blob(self, desc: spec.Descriptor) -> BinaryIO:
        """The blob's raw bytes, resumed transparently; the caller verifies them.

        Never fetched from a descriptor's ``urls`` (foreign layers): that would send a
        request chosen by the image's author (CVE-2020-15157).
        """
        reader = self._repository().open_blob(desc.digest, desc.size)
        return reader  # type: ignore[return-value]

    def has_blob(self, desc: spec.Descriptor) -> bool:
        return self._repository().blob_exists(desc.digest)

    def list_tags(self, page_size: int | None = None) -> list[str]:
        return self._repository_for_tags().list_tags(page_size)

    def _repository_for_tags(self) -> Repository:
        ep = self._endpoints[-1]
        return self._clients.get(ep).repository(ep.repository)

    def close(self) -> None:
        self._clients.close()

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryDestination:
    """Writes an image to a registry: blobs first (skip, mount or upload), manifests last."""

    parallel = 4  # uploads share one thread-safe client, each in its own upload session
    verifies_blobs = True  # the registry refuses an upload whose digest does not match

    def __init__(self, ref: str, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        self.ref, endpoints = resolve(ref, self.options, pull=False)
        self._endpoint = endpoints[-1]
        self.reference = f"docker://{self.ref}"
        self._clients = _Clients(self.options)
        self._repo = self._clients.get(self._endpoint).repository(self._endpoint.repository, push=True)
        self.digest: Digest | None = None  # the top-level manifest's digest once pushed

    @property
    def _on_event(self) -> EventCallback | None:
        return self.options.on_event

    def has_blob(self, desc: spec.Descriptor) -> bool:
        found = self._repo.blob_exists(desc.digest)
        if found:
            emit_blob(self._on_event, desc.digest, desc.size, desc.size, skipped=True)
        return found

    def _mount_sources(self, desc: spec.Descriptor) -> list[str]:
        out: list[str] = []
        hint = self.options.mount_from.get(str(desc.digest))
        if hint:
            out.append(hint)
        ann = (desc.annotations or {}).get(MOUNT_FROM_ANNOTATION)
        if ann:
            out.append(ann)
        out.extend(known_locations(self._repo.client.registry, desc.digest))
        return [r for r in dict.fromkeys(out) if r != self._repo.name]

    def put_blob(self, desc: spec.Descriptor, stream: BinaryIO) -> None:
        """Mount or upload; the registry verifies digest and size before the blob exists."""
        location: str | None = None
        for source in self._mount_sources(desc)[:3]:
            try:
                location = self._repo.mount_blob(desc.digest, source)
            except (AuthError, RegistryNotFound):
                continue
            if location is None:
                emit_blob(self._on_event, desc.digest, desc.size, desc.size, mounted_from=source)
                return
            break
        report = progress_emitter(self._on_event, desc.digest, desc.size)
        report(0)
        self._repo.upload_blob(stream, desc.digest, desc.size, location=location, on_progress=report)

    def put_manifest(self, raw: bytes, media_type: str, *, top_level: bool = True) -> None:
        """Children of an index go by digest; the top level by tag (or by its digest)."""
        digest = Digest.of_bytes(raw)
        emit_blob(self._on_event, digest, 0, len(raw), action="Writing manifest")
        if top_level and self.ref.digest is not None and self.ref.digest != digest:
            raise RegistryError(f"manifest digest {digest} differs from the reference's", where=self.reference)
        reference = self.ref.tag if top_level and self.ref.tag and self.ref.digest is None else str(digest)
        self._repo.put_manifest(raw, media_type, reference)
        if top_level:
            self.digest = digest
        emit_blob(self._on_event, digest, len(raw), len(raw), action="Writing manifest")

    def commit(self) -> None:
        """Nothing to do: the registry made the tag visible when the manifest was PUT."""

    def close(self) -> None:
        self._clients.close()

    def __enter__(self) -> RegistryDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _options(options: RegistryOptions | None, kwargs: dict[str, Any]) -> RegistryOptions:
    """``options`` with keyword overrides (tls_verify=False, retry=3...): options.from_keywords."""
    from pybuild.oci.registry.options import from_keywords

    return from_keywords(options, kwargs)


def open_source(ref: str, options: RegistryOptions | None = None, **kwargs: Any) -> RegistrySource:
    """``docker://REF`` as an ImageSource; ``ref`` is what follows ``docker://``."""
    return RegistrySource(ref, _options(options, kwargs))


def open_destination(ref: str, options: RegistryOptions | None = None, **kwargs: Any) -> RegistryDestination:
    """``docker://REF`` as an ImageDestination."""
    return RegistryDestination(ref, _options(options, kwargs))


def _pick_platform(index: spec.Index, platform: str | None) -> spec.Descriptor | None:
    if platform:
        want = spec.Platform.parse(platform)
    else:
        from pybuild.oci.platform_host import host_platform

        hp = host_platform()
        want = spec.Platform(hp.os, hp.architecture, hp.variant)
    return spec.pick_platform(index.manifests, want)


def inspect(ref: str, options: RegistryOptions | None = None, *, platform: str | None = None) -> dict[str, Any]:
    """Manifest and config of ``docker://ref`` without pulling layers.

    Returns ``name``, ``digest`` (of what the reference names), ``media_type``,
    ``raw_manifest`` (exact bytes), ``manifest`` (parsed JSON); for an index also
    ``raw_index``/``index`` and the platform's child in ``manifest`` (or none when no
    child matches ``platform``, default the host's); ``raw_config``/``config`` for an image.
    """
    with open_source(ref, options) as src:
        raw, media_type = src.get_manifest()
        out: dict[str, Any] = {"name": str(src.resolved or src.ref), "digest": src.digest,
                               "media_type": media_type, "raw_manifest": raw,
                               "manifest": spec.load_json(raw, "manifest")}
        doc = spec.parse_manifest(raw, media_type)
        if isinstance(doc, spec.Index):
            out["raw_index"], out["index"] = raw, out["manifest"]
            child = _pick_platform(doc, platform)
            if child is None:
                out.update(manifest=None, raw_manifest=None, config=None, raw_config=None)
                return out
            raw, media_type = src.get_manifest(child.digest)
            out.update(raw_manifest=raw, manifest=spec.load_json(raw, "manifest"),
                       manifest_digest=child.digest, manifest_media_type=media_type)
            doc = spec.parse_manifest(raw, media_type)
        if not isinstance(doc, spec.Manifest):
            raise RegistryError("an index lists another index for this platform", where=src.reference)
        reader = src.get_blob(doc.config)
        try:
            cfg = read_upto(reader, spec.MAX_DOCUMENT_SIZE + 1)
        finally:
            with contextlib.suppress(Exception):
                reader.close()
        if len(cfg) != doc.config.size or Digest.of_bytes(cfg, doc.config.digest.algorithm) != doc.config.digest:
            from pybuild.errors import DigestMismatch

            raise DigestMismatch(f"config blob does not match {doc.config.digest}", where=src.reference)
        out["raw_config"] = cfg
        out["config"] = spec.load_json(cfg, "config")
        return out


def list_tags(repo: str, options: RegistryOptions | None = None, *, page_size: int | None = None) -> list[str]:
    """Every tag of ``[docker://]REPO`` (a tag or digest in it is ignored), following pagination."""
    raw = repo.removeprefix("docker:")
    with open_source(_strip(raw), options) as src:
        last: Exception | None = None
        for ep in src._endpoints:
            try:
                return src._clients.get(ep).repository(ep.repository).list_tags(page_size)
            except (RegistryNotFound, AuthError) as e:
                last = e
        assert last is not None
        raise last


__all__ = ["RegistryOptions", "RegistrySource", "RegistryDestination", "Endpoint", "resolve",
           "open_source", "open_destination", "inspect", "list_tags"]
