"""Declared licences -> SPDX license expressions, without a licence database at run time.

Ecosystems declare licences loosely: Debian's copyright files say ``GPL-2+`` and ``BSD-3-clause``,
Python classifiers say ``MIT License``. What maps onto an identifier of the SPDX licence list
(the common ones are below, checked against that list by the tests) becomes one; anything else
is kept as written under a ``LicenseRef-`` (SPDX) or as a licence name (CycloneDX), never
guessed into an identifier it may not be.
"""

from __future__ import annotations

import re

# identifiers from the SPDX licence list (https://spdx.org/licenses/), by lowercase key
_IDS = ("0BSD", "AFL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0", "Artistic-1.0",
        "Artistic-1.0-Perl", "Artistic-2.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause",
        "BSL-1.0", "bzip2-1.0.6", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0",
        "CDDL-1.0", "curl", "EPL-1.0", "EPL-2.0", "FSFAP", "FSFUL", "FSFULLR", "GFDL-1.2-only",
        "GFDL-1.2-or-later", "GFDL-1.3-only", "GFDL-1.3-or-later", "GPL-1.0-only", "GPL-1.0-or-later",
        "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ISC",
        "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only",
        "LGPL-3.0-or-later", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "OpenSSL", "PSF-2.0", "Python-2.0",
        "Ruby", "Sleepycat", "Unicode-DFS-2016", "Unlicense", "WTFPL", "X11", "Zlib", "ZPL-2.1")
_EXCEPTIONS = ("Autoconf-exception-3.0", "Bison-exception-2.2", "Classpath-exception-2.0",
               "GCC-exception-2.0", "GCC-exception-3.1", "LLVM-exception")
SPDX_IDS = {i.lower(): i for i in _IDS}
SPDX_EXCEPTIONS = {i.lower(): i for i in _EXCEPTIONS}
# how ecosystems write some of them (Debian's DEP-5 short names, Python classifiers, npm)
_ALIASES = {
    "apache-2": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache software license": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0",
    "mit license": "MIT", "expat": "MIT", "bsd license": "BSD-3-Clause", "bsd": "BSD-3-Clause",
    "isc license (iscl)": "ISC", "python software foundation license": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "public-domain": "", "zlib/libpng": "Zlib",
    "gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later", "gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
    "gpl": "GPL-1.0-or-later", "gpl-1+": "GPL-1.0-or-later", "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later", "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later", "agpl-3": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later", "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3+": "GFDL-1.3-or-later",
    "artistic": "Artistic-1.0-Perl", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_OPS = {"and": "AND", "or": "OR", "with": "WITH", "&": "AND", "|": "OR"}


def _one_id(token: str) -> str | None:
    key = token.lower().rstrip(",")
    if key in _ALIASES:
        return _ALIASES[key] or None
    return SPDX_IDS.get(key)


def to_spdx(declared: str) -> str | None:
    """``declared`` as an SPDX expression of listed identifiers, or None when any part is not one."""
    whole = _one_id(declared.strip())
    if whole:
        return whole
    out: list[str] = []
    after_with = False
    for tok in _TOKEN.findall(declared.replace(",", " and ")):
        if tok in "()":
            out.append(tok)
            continue
        op = _OPS.get(tok.lower())
        if op:
            out.append(op)
            after_with = op == "WITH"
            continue
        mapped = SPDX_EXCEPTIONS.get(tok.lower()) if after_with else _one_id(tok)
        after_with = False
        if not mapped:
            return None
        out.append(mapped)
    if not out or out[0] in ("AND", "OR", "WITH") or out[-1] in ("AND", "OR", "WITH"):
        return None
    text = " ".join(out).replace("( ", "(").replace(" )", ")")
    return text


def license_ref(declared: str) -> str:
    """A stable ``LicenseRef-`` for a licence SPDX has no identifier for (SPDX's idstring)."""
    import hashlib

    cleaned = re.sub(r"[^A-Za-z0-9.-]+", "-", declared.strip()).strip("-")[:60] or "unnamed"
    if cleaned != declared.strip():  # two spellings that clean alike must not share a ref
        cleaned += "-" + hashlib.sha256(declared.encode()).hexdigest()[:8]
    return f"LicenseRef-{cleaned}"
