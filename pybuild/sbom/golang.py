"""Go binaries: the build information the Go linker writes into every binary (Go 1.18+).

The format, as Go's debug/buildinfo reads it: the ELF section ``.go.buildinfo`` starts with
the 14-byte magic ``\\xff Go buildinf:``, a pointer size byte and a flags byte; with flag 2
(strings inline, every Go since 1.18) the 32-byte header is followed by two varint-prefixed
strings, the Go version and the module info. The module info is framed by 16 bytes on each
side and holds tab-separated lines: ``path`` (the main package), ``mod`` (the main module),
``dep`` (each dependency), ``=>`` (the replacement of the line before) and ``build`` settings.
Binaries of Go before 1.18 keep pointers into the data segment instead; they are reported
as not read (no module is invented for them).
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

MAGIC = b"\xff Go buildinf:"
_FLAG_INLINE = 0x2
_MAX_SECTION = 1 << 20
_MAX_BINARY_HEADERS = 1 << 16


@dataclass
class BuildInfo:
    go_version: str
    path: str = ""
    main: tuple[str, str, str] | None = None  # module path, version, sum
    deps: list[tuple[str, str, str]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise ValueError("truncated varint")
        b = data[pos + i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("varint too long")


def _elf_section(f: int, name: bytes) -> bytes | None:
    """The bytes of ELF section ``name`` (read from descriptor ``f``), or None."""
    def pread(n: int, off: int) -> bytes:
        return os.pread(f, n, off)

    ident = pread(64, 0)
    if len(ident) < 64 or ident[:4] != b"\x7fELF":
        return None
    is64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", ident, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", ident, 0x3A)
        fmt, name_at, off_at = endian + "IIQQQQ", 0, 4
    else:
        shoff, = struct.unpack_from(endian + "I", ident, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", ident, 0x2E)
        fmt, name_at, off_at = endian + "IIIIII", 0, 4
    if not shoff or shnum == 0 or shnum > _MAX_BINARY_HEADERS or shstrndx >= shnum:
        return None
    if shentsize != (64 if is64 else 40):  # Elf64_Shdr / Elf32_Shdr (also bounds the table read below)
        return None
    table = pread(shentsize * shnum, shoff)
    if len(table) < shentsize * shnum:
        return None
    headers = [struct.unpack_from(fmt, table, i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size)
    strtab = headers[shstrndx]
    names = pread(min(strtab[5], _MAX_SECTION), strtab[off_at])
    for h in headers:
        end = names.find(b"\0", h[name_at])
        if names[h[name_at]:end] == name:
            if h[5] > _MAX_SECTION:
                return None
            return pread(h[5], h[off_at])
    return None


def parse_buildinfo(section: bytes) -> BuildInfo | None:
    """The build info in a ``.go.buildinfo`` section; None for the pre-1.18 pointer format."""
    at = section.find(MAGIC)
    if at < 0 or len(section) < at + 32:
        return None
    flags = section[at + 15]
    if not flags & _FLAG_INLINE:
        return None
    pos = at + 32
    n, pos = _uvarint(section, pos)
    version = section[pos:pos + n].decode("utf-8", "replace")
    pos += n
    n, pos = _uvarint(section, pos)
    raw = section[pos:pos + n]
    if len(raw) >= 33 and raw[-17] == 0x0A:
        raw = raw[16:-16]
    info = BuildInfo(version)
    last: list[tuple[str, str, str]] | None = None
    for line in raw.decode("utf-8", "replace").splitlines():
        word, _, rest = line.partition("\t")
        cols = rest.split("\t")
        module = (cols[0], cols[1] if len(cols) > 1 else "", cols[2] if len(cols) > 2 else "")
        if word == "path":
            info.path = rest
        elif word == "mod":
            info.main = module
            last = None
        elif word == "dep":
            info.deps.append(module)
            last = info.deps
        elif word == "=>" and last:
            if not module[0].startswith((".", "/")):  # a module replacement is what was built;
                last[-1] = module  # a local directory's says nothing the required version does not
        elif word == "build" and "=" in rest:
            key, _, value = rest.partition("=")
            info.settings[key] = value
    return info


def read_binary(root: RootFS, path: str) -> BuildInfo | None:
    try:
        fd = root.open(path)
    except (FileNotFoundError, OSError):
        return None
    try:
        section = _elf_section(fd, b".go.buildinfo")
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)
    try:
        return parse_buildinfo(section) if section else None
    except ValueError:
        return None


def _go_purl(module: str, version: str) -> str:
    namespace, _, name = module.rpartition("/")
    return purl("golang", name, version, namespace=namespace)


def catalog(root: RootFS) -> list[Package]:
    out: list[Package] = []
    for path in root.paths():
        st = root.lstat(path)
        if st is None or not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111 or st.st_size < 64:
            continue
        info = read_binary(root, path)
        if info is None:
            continue
        modules = ([info.main] if info.main else []) + info.deps
        for module, version, _sum in modules:
            out.append(Package("golang", module, version, _go_purl(module, version), path, files=(path,)))
        go = info.go_version.removeprefix("go")
        out.append(Package("golang", "stdlib", go, purl("golang", "stdlib", go), path, files=(path,)))
    return out
