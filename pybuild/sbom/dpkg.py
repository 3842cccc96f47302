"""Debian packages: /var/lib/dpkg/status (and distroless' status.d/), files from info/*.list.

Only stanzas whose Status says ``installed`` count (a removed package's ``deinstall ok
config-files`` stanza owns nothing). Licences come from the package's machine-readable
/usr/share/doc/NAME/copyright (its ``License:`` fields), the only place Debian records them.
"""

from __future__ import annotations

import re

from pybuild.sbom.model import Package, purl
from pybuild.sbom.rootfs import RootFS

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d"
INFO = "/var/lib/dpkg/info"
_LICENSE = re.compile(r"^License:[ \t]*(\S[^\n]*)$", re.MULTILINE)


def stanzas(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs as field -> value (continuation lines joined with newlines)."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur, last = {}, ""
        elif line[0] in " \t" and last:
            cur[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            cur[last] = value.strip()
    if cur:
        out.append(cur)
    return out


def _licenses(root: RootFS, name: str) -> tuple[str, ...]:
    path = f"/usr/share/doc/{name}/copyright"
    if not root.is_file(path):
        return ()
    found = {m.group(1).strip() for m in _LICENSE.finditer(root.text(path, 4 << 20))}
    return tuple(sorted(found))


def owned_files(root: RootFS, names: list[str]) -> tuple[str, ...]:
    """The regular files of ``names``' file lists that the image has (directories left out)."""
    out: set[str] = set()
    for list_name in names:
        path = f"{INFO}/{list_name}"
        if not root.is_file(path):
            continue
        for line in root.text(path).splitlines():
            line = line.strip()
            if line.startswith("/") and root.is_file(line):  # a file, or a link to one (not to a directory)
                out.add(line)
    return tuple(sorted(out))


def catalog(root: RootFS) -> list[Package]:
    sources: list[tuple[str, bool]] = []
    if root.is_file(STATUS):
        sources.append((STATUS, True))
    sources += [(f"{STATUS_D}/{n}", False) for n in root.listdir(STATUS_D) if root.is_file(f"{STATUS_D}/{n}")]
    ident, distro = root.os_release()
    namespace = ident or "debian"
    found: list[Package] = []
    for path, needs_status in sources:
        for st in stanzas(root.text(path)):
            name, version = st.get("Package", ""), st.get("Version", "")
            if not name or not version:
                continue
            if needs_status and not st.get("Status", "").endswith(" installed"):
                continue
            arch = st.get("Architecture", "")
            source = st.get("Source", "").split(" ")[0]
            quals = {"arch": arch, "distro": distro}
            if source and source != name:
                quals["upstream"] = source
            lists = [f"{name}:{arch}.list", f"{name}.list"]
            found.append(Package("deb", name, version, purl("deb", name, version, namespace=namespace,
                                                            qualifiers=quals),
                                 path, _licenses(root, name), owned_files(root, lists),
                                 supplier=st.get("Maintainer", "")))
    return found
