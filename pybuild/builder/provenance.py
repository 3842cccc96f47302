"""SLSA provenance of a build: what went in and how, as an in-toto predicate (issue 17).

The predicate is SLSA Provenance **v1** (``https://slsa.dev/provenance/v1``), not BuildKit's
default v0.2: v1 is the current SLSA version (v0.2 is retired upstream), BuildKit itself
writes it under ``version=v1``, and its shape (``buildDefinition`` / ``runDetails``) has a
place for everything pybuild knows without inventing fields.

What it says, ``mode=min`` and ``mode=max`` alike (as BuildKit's min): the builder (id and
version), the Containerfile's path and sha256, the build arguments (values as given: BuildKit
records them too, so never pass a secret as one), the ids of the secrets (never their
values), the target, the platform, every resolved dependency with its digest (base and
``COPY --from`` images by manifest digest, ``ADD`` URLs by the sha256 of what they served,
``ADD`` git sources by commit, image build contexts), and the start and finish times. ``mode=max`` adds the Containerfile's
text and the named directory contexts. Under ``--timestamp`` / ``SOURCE_DATE_EPOCH`` both
times are that epoch and the invocation id is derived from the content, so the same build on
two stores gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pybuild import __version__

if TYPE_CHECKING:
    from pybuild.builder.executor import Build

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://pybuild.invalid/containerfile-build/v1"
BUILDER_ID = "https://pybuild.invalid/builder/pybuild"
MODES = ("min", "max")


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def image_uri(name: str, platform: str) -> str:
    """``pkg:docker/NAME@TAG?platform=...`` as BuildKit names an image material; a transport
    spec (``oci:DIR:tag``) stays as written, the platform after it."""
    from pybuild.oci.transport import is_transport_spec

    if is_transport_spec(name):
        return f"{name}?platform={quote(platform, safe='')}"
    from pybuild.oci.reference import Reference

    ref = Reference.parse(name)
    repo = ref.name
    version = f"@{ref.tag}" if ref.tag and not ref.digest else ""
    return f"pkg:docker/{repo}{version}?platform={quote(platform, safe='')}"


def _image_materials(b: Build) -> list[dict[str, Any]]:
    out = []
    for (name, platform), img in sorted(b._image_cache.items()):
        if img.manifest:
            digest = {"sha256": img.manifest.digest.hex}
            entry: dict[str, Any] = {"uri": image_uri(name, platform), "digest": digest}
        else:  # an image built here and never pushed has no manifest yet: its config names it
            entry = {"uri": image_uri(name, platform), "digest": {"sha256": img.id},
                     "annotations": {"pybuild.digest-of": "config"}}
        out.append(entry)
    return out


def _url_materials(b: Build) -> list[dict[str, Any]]:
    out = []
    for (url, _checksum), sel in sorted(b.downloads.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        out.append({"uri": url, "digest": {"sha256": _sha256_file(sel.host)}})
    return out


def _git_materials(b: Build) -> list[dict[str, Any]]:
    """ADD git sources by the commit their ref resolved to (BuildKit writes sha1 for it)."""
    out = []
    for src, (commit, _refname) in sorted(getattr(b, "git_commits", {}).items()):
        out.append({"uri": src, "digest": {"sha1" if len(commit) == 40 else "sha256": commit}})
    return out


def containerfile(b: Build) -> tuple[str, bytes]:
    """The Containerfile's path as the build names it (relative to the context when inside
    it, as BuildKit's ``configSource.path``) and its bytes."""
    import os

    if b.opts.containerfile_text is not None:
        return b.opts.containerfile or "Containerfile", b.opts.containerfile_text.encode()
    path = b._find_containerfile()
    rel = os.path.relpath(os.path.realpath(path), os.path.realpath(b.context))
    return (rel if not rel.startswith("..") else path.name), path.read_bytes()


def predicate(b: Build, mode: str, *, finished: float) -> dict[str, Any]:
    """The SLSA v1 predicate of build ``b`` (its final image written, its inputs still at hand)."""
    from pybuild.oci.platform_host import host_platform
    from pybuild.oci.spec import rfc3339

    opts = b.opts
    cf_path, text = containerfile(b)
    request: dict[str, Any] = {"frontend": "containerfile", "args": dict(sorted(b.build_args.items())),
                               "platform": b.graph.platform, "secrets": sorted(opts.run.secrets)}
    if opts.target:
        request["target"] = opts.target
    external: dict[str, Any] = {
        "configSource": {"path": cf_path, "digest": {"sha256": hashlib.sha256(text).hexdigest()}},
        "request": request,
    }
    materials = _image_materials(b) + _url_materials(b) + _git_materials(b)
    host = host_platform()
    internal: dict[str, Any] = {"builderPlatform": "/".join(p for p in (host.os, host.architecture, host.variant) if p),
                                "pull": opts.pull, "layers": opts.layers, "noCache": opts.no_cache}
    byproducts: list[dict[str, Any]] = []
    if mode == "max":
        byproducts.append({"name": cf_path, "mediaType": "text/plain",
                           "content": base64.b64encode(text).decode()})
        contexts = {name: b.named_context(name) for name in sorted(opts.build_contexts)}
        external["request"]["contexts"] = {name: {"kind": kind, "value": value} for name, (kind, value) in contexts.items()}
    fixed = opts.output.timestamp is not None or opts.output.source_date_epoch is not None
    started = b.now if fixed else b.started
    finished = b.now if fixed else finished
    doc: dict[str, Any] = {
        "buildDefinition": {"buildType": BUILD_TYPE, "externalParameters": external,
                            "internalParameters": internal, "resolvedDependencies": materials},
        "runDetails": {"builder": {"id": BUILDER_ID, "version": {"pybuild": __version__}},
                       "metadata": {"invocationId": "", "startedOn": rfc3339(int(started)),
                                    "finishedOn": rfc3339(int(finished))}},
    }
    if byproducts:
        doc["runDetails"]["byproducts"] = byproducts
    import json

    seed = json.dumps(doc, sort_keys=True).encode() + (b"" if fixed else str(b.started).encode())
    doc["runDetails"]["metadata"]["invocationId"] = "urn:uuid:" + _uuid(seed)
    return doc


def _uuid(seed: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=hashlib.sha256(seed).digest()[:16], version=4))
