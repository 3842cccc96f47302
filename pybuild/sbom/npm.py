"""npm packages: every ``node_modules/**/package.json`` (one per installed package, nested
ones included); a package's files are those under its directory outside nested node_modules."""

from __future__ import annotations

import bisect
import json
import posixpath
import stat

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS


def _license(doc: dict[str, object]) -> tuple[str, ...]:
    lic = doc.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if isinstance(lic, str) and lic:
        return (lic,)
    many = doc.get("licenses")  # the old array form
    if isinstance(many, list):
        names = [m.get("type") if isinstance(m, dict) else m for m in many]
        return tuple(sorted({n for n in names if isinstance(n, str) and n}))
    return ()


def _is_manifest(path: str) -> bool:
    """``.../node_modules/NAME/package.json`` or ``.../node_modules/@scope/NAME/package.json``."""
    parts = path.split("/")
    if len(parts) < 4 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith("@")
    return len(parts) >= 5 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def catalog(root: RootFS) -> list[Package]:
    manifests = [p for p in root.paths() if "node_modules/" in p and _is_manifest(p)]
    every = list(root.paths()) if manifests else []
    out: list[Package] = []
    for path in manifests:
        if not root.is_file(path):
            continue
        try:
            doc = json.loads(root.read(path, 8 << 20))
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        scope, _, bare = name.rpartition("/")
        pkg_dir = posixpath.dirname(path) + "/"
        files = []
        for p in every[bisect.bisect_left(every, pkg_dir):]:  # sorted: the package's paths are one run
            if not p.startswith(pkg_dir):
                break
            st = root.lstat(p)
            if "/node_modules/" not in p[len(pkg_dir) - 1:] and st is not None and not stat.S_ISDIR(st.st_mode):
                files.append(p)
        author = doc.get("author")
        supplier = author.get("name", "") if isinstance(author, dict) else author if isinstance(author, str) else ""
        out.append(Package("npm", name, version, purl("npm", bare, version, namespace=scope), path,
                           _license(doc), tuple(files), supplier=str(supplier)))
    return out
