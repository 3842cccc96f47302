"""RPM packages: the sqlite rpmdb (``/var/lib/rpm/rpmdb.sqlite``, rpm 4.16+; Fedora, RHEL 9,
openSUSE's ``/usr/lib/sysimage/rpm``), each row of its ``Packages`` table an RPM header.

The database is copied out of the image (with its write-ahead log, which may hold the latest
transactions) into a private temporary directory and opened there, so nothing is written into
the image, and SQLite is told not to trust the schema. A header is read as rpm lays it out: a
count of index entries and the data size (big-endian), the entries (tag, type, offset, count)
and the data; the tags read are name, version, release, epoch, arch, licence, vendor, source
RPM and the file names (basenames, dirnames, dirindexes). Berkeley DB and ndb rpmdbs are not
read (catalog() reports them as unread).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

DATABASES = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
_NAME, _VERSION, _RELEASE, _EPOCH, _VENDOR, _LICENSE, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1011, 1014, 1022, 1044
_DIRINDEXES, _BASENAMES, _DIRNAMES = 1116, 1117, 1118
_INT16, _INT32, _STRING, _STRING_ARRAY, _I18N = 3, 4, 6, 8, 9
_MAX_DB = 512 << 20
_MAX_ENTRIES = 1 << 16


def parse_header(blob: bytes) -> dict[int, object]:
    """The tags of an rpmdb header blob this module reads; ValueError when it is malformed."""
    if len(blob) < 8:
        raise ValueError("short header")
    il, dl = struct.unpack_from(">II", blob, 0)
    start = 8 + il * 16
    if il > _MAX_ENTRIES or start + dl > len(blob):
        raise ValueError("header sizes out of range")
    data = blob[start:start + dl]
    out: dict[int, object] = {}
    wanted = {_NAME, _VERSION, _RELEASE, _EPOCH, _VENDOR, _LICENSE, _ARCH, _SOURCERPM, _DIRINDEXES, _BASENAMES,
              _DIRNAMES}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iiii", blob, 8 + i * 16)
        if tag not in wanted or off < 0 or off > len(data) or count < 0 or count > len(data) + 1:
            continue
        if typ in (_STRING, _I18N, _STRING_ARRAY):
            n = 1 if typ == _STRING else count
            strings, pos = [], off
            for _ in range(n):
                end = data.find(b"\0", pos)
                if end < 0:
                    raise ValueError("unterminated string")
                strings.append(data[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            out[tag] = strings if typ == _STRING_ARRAY else strings[0]
        elif typ == _INT32:
            if off + 4 * count > len(data):
                raise ValueError("integers past the data")
            out[tag] = list(struct.unpack_from(f">{count}i", data, off))
        elif typ == _INT16:
            if off + 2 * count > len(data):
                raise ValueError("integers past the data")
            out[tag] = list(struct.unpack_from(f">{count}h", data, off))
    return out


def _rows(root: RootFS, db: str) -> list[bytes]:
    import sqlite3

    tmp = tempfile.mkdtemp(prefix="pybuild-rpmdb-")
    try:
        for suffix in ("", "-wal"):
            if root.is_file(db + suffix):
                with open(os.path.join(tmp, "rpmdb.sqlite" + suffix), "wb") as f:
                    f.write(root.read(db + suffix, _MAX_DB))
        conn = sqlite3.connect(os.path.join(tmp, "rpmdb.sqlite"))
        try:
            conn.execute("PRAGMA trusted_schema = OFF")
            return [bytes(row[0]) for row in conn.execute("SELECT blob FROM Packages") if row[0] is not None]
        except sqlite3.DatabaseError:
            return []
        finally:
            conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _files(root: RootFS, tags: dict[int, object]) -> tuple[str, ...]:
    bases, dirs, idx = tags.get(_BASENAMES), tags.get(_DIRNAMES), tags.get(_DIRINDEXES)
    if not (isinstance(bases, list) and isinstance(dirs, list) and isinstance(idx, list)) or len(bases) != len(idx):
        return ()
    out = {f"{dirs[i]}{b}" for b, i in zip(bases, idx, strict=True) if 0 <= i < len(dirs)}
    return tuple(sorted(p for p in out if p.startswith("/") and root.is_file(p)))


def catalog(root: RootFS) -> list[Package]:
    found: list[Package] = []
    vendor_ns, distro = root.os_release()
    for db in DATABASES:
        if not root.is_file(db):
            continue
        for blob in _rows(root, db):
            try:
                tags = parse_header(blob)
            except (ValueError, struct.error):
                continue
            name, version, release = tags.get(_NAME), tags.get(_VERSION), tags.get(_RELEASE)
            if not isinstance(name, str) or not isinstance(version, str) or name == "gpg-pubkey":
                continue  # (imported signing keys are headers too)
            full = f"{version}-{release}" if isinstance(release, str) and release else version
            epoch = tags.get(_EPOCH)
            quals = {"arch": str(tags.get(_ARCH) or ""), "distro": distro,
                     "epoch": str(epoch[0]) if isinstance(epoch, list) and epoch else ""}
            source = tags.get(_SOURCERPM)
            if isinstance(source, str) and source:
                quals["upstream"] = source
            lic = tags.get(_LICENSE)
            found.append(Package("rpm", name, full, purl("rpm", name, full, namespace=vendor_ns, qualifiers=quals),
                                 db, (lic,) if isinstance(lic, str) and lic else (), _files(root, tags),
                                 supplier=str(tags.get(_VENDOR) or "")))
    return found
