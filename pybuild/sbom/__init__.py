"""Software bills of materials from an image's root filesystem, offline (issue 17).

One cataloger module per ecosystem reads the files that ecosystem's tools write (dpkg's
status database, apk's installed db, Python's dist-info, npm's package.json, Go's build info)
from a :class:`RootFS`; :func:`catalog` runs them all; :mod:`pybuild.sbom.spdx` and
:mod:`pybuild.sbom.cyclonedx` write the documents. Nothing here runs a tool or opens a
socket. RPM's sqlite database is read; its older Berkeley DB and ndb forms are not (a rootfs
holding one is reported in :attr:`Catalog.unread`, never silently passed over).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

# ecosystem -> cataloger module (imported when run)
CATALOGERS = ("dpkg", "apk", "rpm", "python", "npm", "golang")
_UNREAD = {"/var/lib/rpm/Packages": "rpm (Berkeley DB)", "/var/lib/rpm/Packages.db": "rpm (ndb)",
           "/usr/lib/sysimage/rpm/Packages": "rpm (Berkeley DB)", "/usr/lib/sysimage/rpm/Packages.db": "rpm (ndb)"}


@dataclass
class Catalog:
    """The packages found (sorted by ecosystem, name, version, purl) and the package databases
    seen but not read (path -> ecosystem)."""

    packages: list[Package]
    unread: dict[str, str] = field(default_factory=dict)


def catalog(root: RootFS) -> Catalog:
    import importlib

    found: list[Package] = []
    for name in CATALOGERS:
        module = importlib.import_module(f"pybuild.sbom.{name}")
        found.extend(module.catalog(root))
    unread = {p: eco for p, eco in _UNREAD.items() if root.is_file(p)}
    return Catalog(sorted(set(found)), unread)


__all__ = ["CATALOGERS", "Catalog", "Package", "RootFS", "catalog", "purl"]
