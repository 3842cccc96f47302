"""One build for several platforms (``--platform linux/amd64,linux/arm64``): the platforms
built side by side (a core each), the images collected into manifest lists in the store.

``--manifest NAME`` adds the images to the list NAME (made when absent), as buildah does;
each ``-t NAME`` becomes a list of exactly these images (BuildKit's behaviour: the tag names
the index). The per-platform images themselves stay unnamed; the lists keep them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from pybuild.builder.options import BuildOptions
from pybuild.builder.store import Image, Store, normalize_name
from pybuild.errors import ConfigError
from pybuild.events import OUTPUT, Event, EventCallback


@dataclass
class MultiPlatformResult:
    """The image built for each platform (in the order asked) and the lists written."""

    images: dict[str, Image]
    lists: list[str]  # full names
    digest: str  # the index digest of the first list


def split_platforms(text: str) -> list[str]:
    """``linux/amd64,linux/arm64`` -> each platform once, checked; one line when one is bad."""
    from pybuild.oci.platform_host import parse_platform

    out: list[str] = []
    for part in text.split(","):
        if not part.strip():
            raise ConfigError(f"--platform {text}: an empty platform in the list")
        p = str(parse_platform(part.strip(), "--platform"))
        if p in out:
            raise ConfigError(f"--platform {text}: {p} is given twice")
        out.append(p)
    return out


def _for_platform(on_event: EventCallback | None, platform: str) -> EventCallback | None:
    """Events of one platform's build, their lines prefixed with it (BuildKit's ``[linux/arm64 ...]``)."""
    if on_event is None:
        return None
    callback = on_event

    def forward(event: Event) -> None:
        message = event.message if event.kind == OUTPUT or not event.message else f"[{platform}] {event.message}"
        callback(Event(event.kind, message, {**dict(event.data), "platform": platform}))

    return forward


def base_platforms(store: Store, options: BuildOptions) -> list[str]:
    """``--all-platforms`` (buildah's): every platform the final stage's base image index lists
    (a local manifest list, or an index at a transport or registry)."""
    import contextlib

    from pybuild.builder import manifest_list
    from pybuild.builder.executor import Build
    from pybuild.oci.spec import Index, parse_manifest
    from pybuild.oci.transport import is_transport_spec as _is_transport
    from pybuild.oci.transport import open_source

    b = Build(store, dataclasses.replace(options, platform=None))
    b.load()
    stage = b.graph.final
    while stage.base_kind == "stage":
        stage = b.graph.all_stages[stage.base_stage]
    if stage.base_kind != "image":
        raise ConfigError(f"--all-platforms: the final stage is built FROM {stage.base}, which lists no platforms")
    lst = None if _is_transport(stage.base) else manifest_list.find(store, stage.base)
    if lst is not None:
        doc: object = lst.index
    else:
        src = open_source(stage.base if _is_transport(stage.base) else f"docker://{stage.base}", **options.registry)
        try:
            raw, media_type = src.get_manifest()
        finally:
            with contextlib.suppress(Exception):
                src.close()
        doc = parse_manifest(raw, media_type)
    if not isinstance(doc, Index):
        raise ConfigError(f"--all-platforms: {stage.base} is a single image, not an index of platforms")
    out: list[str] = []
    for d in doc.manifests:
        if d.platform is not None and not d.platform.is_unknown() and str(d.platform) not in out:
            out.append(str(d.platform))
    if not out:
        raise ConfigError(f"--all-platforms: the index of {stage.base} names no platform")
    return out


def build_platforms(store: Store, options: BuildOptions) -> MultiPlatformResult:
    """Build ``options`` once per platform of ``options.platform``, then write the lists
    (a git, URL or stdin context made local once for them all)."""
    from pybuild.builder import build_input

    if build_input.is_remote(options):
        with build_input.prepared(store, options) as local:
            return _build_platforms(store, local)
    return _build_platforms(store, options)


def _build_platforms(store: Store, options: BuildOptions) -> MultiPlatformResult:
    from pybuild.builder import manifest_list
    from pybuild.builder.executor import build
    from pybuild.oci.platform_host import parse_platform

    if options.all_platforms:
        if options.platform:
            raise ConfigError("give --platform or --all-platforms, not both")
        platforms = [str(parse_platform(p, "--all-platforms: the base's")) for p in base_platforms(store, options)]
    else:
        platforms = split_platforms(options.platform or "")
    out = options.output
    if options.attest.sbom_output or options.attest.sbom_purl_output:
        raise ConfigError("--sbom-output and --sbom-purl-output take one platform's SBOM: give one --platform "
                          "(each platform's SBOM is attached to its image when the list is pushed)")
    if out.iidfile:
        raise ConfigError("--iidfile takes one image: give one --platform (or use --manifest and push the list)")
    if out.outputs:
        from pybuild.builder.outputs import parse_output

        for spec in out.outputs:
            parse_output(spec)  # a bad -o before anything is built
    from pybuild.builder.cache_spec import PER_KEY

    one_tag = [c for c in options.cache_to if c.kind != PER_KEY]
    if one_tag and len(platforms) > 1:  # each platform's export would replace the other's
        raise ConfigError(f"--cache-to {one_tag[0].display} keeps one platform's steps under one tag: give one "
                          "--platform per build (and a tag each), or buildah's --cache-to REPO (a tag per step)")
    each_out = dataclasses.replace(out, tags=[], manifest=None, iidfile=None, outputs=[])
    jobs = max(1, min(len(platforms), os.cpu_count() or 1))  # qemu is CPU-bound: a core each
    from concurrent.futures import ThreadPoolExecutor  # (a one-platform build needs no thread pool)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="platform") as pool:
        futures = {p: pool.submit(build, store, dataclasses.replace(
            options, platform=p, all_platforms=False, output=each_out,
            on_event=_for_platform(options.on_event, p))) for p in platforms}
    images: dict[str, Image] = {p: f.result() for p, f in futures.items()}  # the first failure, raised
    if out.outputs:
        from pybuild.builder.outputs import export_platforms

        for spec in out.outputs:
            export_platforms(store, images, spec)
    names: list[str] = []
    if out.manifest:
        lst = manifest_list.create(store, out.manifest, amend=True)
        for img in images.values():
            manifest_list.add(store, lst.name, img.id)
        names.append(lst.name)
    for tag in out.tags:
        existing = manifest_list.find(store, tag)
        if existing is not None:
            manifest_list.delete(store, existing.name)
        old = store.find_image(tag)
        if old is not None:  # the name now means the list (an image keeping it would shadow it)
            store.untag(old.id, normalize_name(tag))
        lst = manifest_list.create(store, tag)
        for img in images.values():
            manifest_list.add(store, lst.name, img.id)
        names.append(lst.name)
    digest = str(manifest_list.get(store, names[0]).digest) if names else ""
    return MultiPlatformResult(images, names, digest)


__all__ = ["MultiPlatformResult", "base_platforms", "build_platforms", "split_platforms"]
