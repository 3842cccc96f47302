"""Python distributions: ``*.dist-info/METADATA`` with its RECORD (the files pip installed),
and ``*.egg-info`` (PKG-INFO, installed-files.txt), wherever they are in the image (the
system's site-packages, a venv, a --target directory)."""

from __future__ import annotations

import csv
import io
import posixpath
import re
from email.parser import HeaderParser

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

_CLASSIFIER = "License :: "


def normalise_name(name: str) -> str:
    """PEP 503's normal form, which the pypi purl type uses."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _licenses(meta: object) -> tuple[str, ...]:
    get = meta.get  # type: ignore[attr-defined]
    if get("License-Expression"):
        return (get("License-Expression").strip(),)
    declared = (get("License") or "").strip()
    if declared and "\n" not in declared and len(declared) < 100 and declared.upper() != "UNKNOWN":
        return (declared,)
    found = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or []  # type: ignore[attr-defined]
             if c.startswith(_CLASSIFIER)]
    return tuple(sorted(set(found)))


def _record_files(root: RootFS, base: str, lines: list[str]) -> tuple[str, ...]:
    out = set()
    for rel in lines:
        if not rel:
            continue
        path = RootFS.normalise(posixpath.join(base, rel))
        if root.lstat(path) is not None:
            out.add(path)
    return tuple(sorted(out))


def _one(root: RootFS, info: str, meta_path: str, record: str | None) -> Package | None:
    meta = HeaderParser().parsestr(root.text(meta_path, 16 << 20))
    name, version = (meta.get("Name") or "").strip(), (meta.get("Version") or "").strip()
    if not name or not version:
        return None
    base = posixpath.dirname(info)
    files: tuple[str, ...] = ()
    if record and root.is_file(record):
        try:
            rows = list(csv.reader(io.StringIO(root.text(record))))
        except csv.Error:  # a damaged RECORD: the distribution is still listed, without files
            rows = []
        files = _record_files(root, base, [row[0] for row in rows if row])
    elif root.is_file(f"{info}/installed-files.txt"):
        files = _record_files(root, info, root.text(f"{info}/installed-files.txt").splitlines())
    author = (meta.get("Author") or meta.get("Author-email") or "").strip()
    return Package("pypi", name, version, purl("pypi", normalise_name(name), version), meta_path,
                   _licenses(meta), files, supplier=author)


def catalog(root: RootFS) -> list[Package]:
    out: list[Package] = []
    for path in root.paths():
        leaf = posixpath.basename(path)
        found: Package | None = None
        if leaf.endswith(".dist-info") and root.is_file(f"{path}/METADATA"):
            found = _one(root, path, f"{path}/METADATA", f"{path}/RECORD")
        elif leaf.endswith(".egg-info"):
            if root.is_file(f"{path}/PKG-INFO"):
                found = _one(root, path, f"{path}/PKG-INFO", None)
            elif root.is_file(path):  # a single-file egg-info (distutils)
                found = _one(root, path, path, None)
        if found is not None:
            out.append(found)
    return out
