"""CycloneDX 1.5 JSON: the image as metadata.component, each package a library component with
its purl, licences and (as ``evidence.occurrences``) the image paths of its files."""

from __future__ import annotations

from typing import Any

from pybuild import __version__
from pybuild.sbom import Catalog
from pybuild.sbom.document import Subject, dumps, stable_uuid, timestamp
from pybuild.sbom.licenses import to_spdx
from pybuild.sbom.model import Package
from pybuild.sbom.rootfs import RootFS


def _licenses(pkg: Package) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for declared in pkg.licenses:
        mapped = to_spdx(declared)
        if mapped and " " not in mapped:
            out.append({"license": {"id": mapped}})
        else:  # an expression cannot sit beside licences in one list: the name as declared
            out.append({"license": {"name": declared}})
    return out


def _component(pkg: Package, ref: str) -> dict[str, Any]:
    comp: dict[str, Any] = {"bom-ref": ref, "type": "library", "name": pkg.name, "version": pkg.version}
    if pkg.supplier:
        comp["publisher"] = pkg.supplier
    licenses = _licenses(pkg)
    if licenses:
        comp["licenses"] = licenses
    comp["purl"] = pkg.purl
    comp["properties"] = [{"name": "pybuild:package:ecosystem", "value": pkg.ecosystem},
                          {"name": "pybuild:package:source", "value": pkg.source}]
    if pkg.files:
        comp["evidence"] = {"occurrences": [{"location": p} for p in pkg.files]}
    return comp


def document(found: Catalog, root: RootFS, subject: Subject, *, epoch: int | None = None) -> dict[str, Any]:
    del root  # file digests are SPDX's; CycloneDX lists where each package's files are
    components = []
    seen: dict[str, int] = {}
    for pkg in found.packages:
        ref = pkg.purl if pkg.purl not in seen else f"{pkg.purl}#{seen[pkg.purl]}"  # a module in two binaries
        seen[pkg.purl] = seen.get(pkg.purl, 0) + 1
        components.append(_component(pkg, ref))
    serial = stable_uuid(subject.digest, *(c["bom-ref"] for c in components))
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}", "version": 1,
        "metadata": {"timestamp": timestamp(epoch),
                     "tools": {"components": [{"type": "application", "name": "pybuild", "version": __version__}]},
                     "component": {"bom-ref": "image", "type": "container", "name": subject.name,
                                   "version": subject.digest}},
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": [c["bom-ref"] for c in components]}],
    }


def render(found: Catalog, root: RootFS, subject: Subject, *, epoch: int | None = None) -> bytes:
    return dumps(document(found, root, subject, epoch=epoch))
