"""Alpine packages: lib/apk/db/installed (``P:`` name, ``V:`` version, ``L:`` licence, ``F:``
a directory and the ``R:`` files in it)."""

from __future__ import annotations

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

INSTALLED = "/lib/apk/db/installed"


def _distro(root: RootFS) -> str:
    if root.is_file("/etc/alpine-release"):
        return "alpine-" + root.text("/etc/alpine-release", 4096).strip()
    return ""


def catalog(root: RootFS) -> list[Package]:
    if not root.is_file(INSTALLED):
        return []
    distro = _distro(root)
    out: list[Package] = []
    for record in root.text(INSTALLED).split("\n\n"):
        fields: dict[str, str] = {}
        files: list[str] = []
        folder = ""
        for line in record.splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                continue
            if key == "F":
                folder = value
            elif key == "R":
                path = f"/{folder}/{value}" if folder else f"/{value}"
                if root.lstat(path) is not None:
                    files.append(path)
            else:
                fields.setdefault(key, value)
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            continue
        quals = {"arch": fields.get("A", ""), "distro": distro}
        origin = fields.get("o", "")
        if origin and origin != name:
            quals["upstream"] = origin
        licenses = (fields["L"],) if fields.get("L") else ()
        out.append(Package("apk", name, version, purl("apk", name, version, namespace="alpine", qualifiers=quals),
                           INSTALLED, licenses, tuple(sorted(files)), supplier=fields.get("m", "")))
    return out
