"""SPDX 2.3 JSON: the image as the described package, each catalogued package CONTAINED in it,
and each package's files (with SHA-1, which SPDX requires, and SHA-256) CONTAINED in it."""

from __future__ import annotations

import hashlib
from typing import Any

from pybuild import __version__
from pybuild.sbom import Catalog
from pybuild.sbom.document import Subject, dumps, file_digests, stable_uuid, timestamp
from pybuild.sbom.licenses import license_ref, to_spdx
from pybuild.sbom.model import Package
from pybuild.sbom.rootfs import RootFS

NOASSERTION = "NOASSERTION"


def _id(kind: str, *parts: str) -> str:
    return f"SPDXRef-{kind}-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _declared(pkg: Package, refs: dict[str, str]) -> str:
    parts = []
    for declared in pkg.licenses:
        mapped = to_spdx(declared)
        if mapped is None:
            mapped = license_ref(declared)
            refs[mapped] = declared
        parts.append(f"({mapped})" if " " in mapped else mapped)
    if len(parts) == 1:
        return parts[0].removeprefix("(").removesuffix(")") if parts[0].startswith("(") else parts[0]
    return " AND ".join(parts) if parts else NOASSERTION


def _package(pkg: Package, refs: dict[str, str]) -> dict[str, Any]:
    return {"SPDXID": _id("Package", pkg.purl, pkg.source), "name": pkg.name, "versionInfo": pkg.version,
            "downloadLocation": NOASSERTION, "filesAnalyzed": False, "licenseConcluded": NOASSERTION,
            "licenseDeclared": _declared(pkg, refs), "copyrightText": NOASSERTION,
            "sourceInfo": f"{pkg.ecosystem} package found in {pkg.source}",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": pkg.purl}]}


def document(found: Catalog, root: RootFS, subject: Subject, *, epoch: int | None = None) -> dict[str, Any]:
    refs: dict[str, str] = {}
    image_id = "SPDXRef-Image"
    packages: list[dict[str, Any]] = [{"SPDXID": image_id, "name": subject.name, "versionInfo": subject.digest,
                 "downloadLocation": NOASSERTION, "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER",
                 "licenseConcluded": NOASSERTION, "licenseDeclared": NOASSERTION, "copyrightText": NOASSERTION}]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": image_id}]
    files: dict[str, dict[str, Any]] = {}
    for pkg in found.packages:
        entry = _package(pkg, refs)
        packages.append(entry)
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": entry["SPDXID"]})
        sha1s = []
        for path in pkg.files:
            if path not in files:
                sums = file_digests(root, path)
                if sums is None:
                    continue
                files[path] = {"SPDXID": _id("File", path), "fileName": "." + path,  # SPDX names files relative
                               "checksums": [{"algorithm": "SHA1", "checksumValue": sums[0]},
                                             {"algorithm": "SHA256", "checksumValue": sums[1]}],
                               "licenseConcluded": NOASSERTION, "copyrightText": NOASSERTION}
            sha1s.append(files[path]["checksums"][0]["checksumValue"])
            relationships.append({"spdxElementId": entry["SPDXID"], "relationshipType": "CONTAINS",
                                  "relatedSpdxElement": files[path]["SPDXID"]})
        if sha1s:  # files listed: analysed, with the verification code SPDX 2.3 section 7.9 defines
            entry["filesAnalyzed"] = True
            code = hashlib.sha1("".join(sorted(sha1s)).encode(), usedforsecurity=False).hexdigest()
            entry["packageVerificationCode"] = {"packageVerificationCodeValue": code}
    content = [p["SPDXID"] + str(p.get("versionInfo")) for p in packages] + sorted(files)
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": f"https://pybuild.invalid/spdx/{stable_uuid(subject.digest, *content)}",
        "creationInfo": {"created": timestamp(epoch), "creators": [f"Tool: pybuild-{__version__}"]},
        "packages": packages,
        "files": [files[p] for p in sorted(files)],
        "relationships": relationships,
    }
    if refs:
        doc["hasExtractedLicensingInfos"] = [{"licenseId": ref, "name": text, "extractedText": text}
                                             for ref, text in sorted(refs.items())]
    return doc


def render(found: Catalog, root: RootFS, subject: Subject, *, epoch: int | None = None) -> bytes:
    return dumps(document(found, root, subject, epoch=epoch))
