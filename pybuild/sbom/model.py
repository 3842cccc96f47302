"""What a cataloger reports: one package, by ecosystem, with its purl and the files it owns."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass(frozen=True, order=True)
class Package:
    """A package found in an image. ``files`` are image paths of regular files it owns (sorted);
    ``licenses`` the licence names or expressions it declares (as declared); ``source`` the
    file the cataloger read it from."""

    ecosystem: str  # deb, apk, pypi, npm, golang (the purl type)
    name: str
    version: str
    purl: str
    source: str
    licenses: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)
    supplier: str = ""


def purl(type_: str, name: str, version: str, *, namespace: str = "",
         qualifiers: dict[str, str] | None = None) -> str:
    """A package URL as the purl spec writes one (name and namespace segments percent-encoded,
    qualifiers sorted by key, empty ones left out)."""
    ns = "/".join(quote(part, safe="") for part in namespace.split("/") if part)
    out = f"pkg:{type_}/{ns + '/' if ns else ''}{quote(name, safe='')}"
    if version:
        out += "@" + quote(version, safe="+~")
    qs = sorted((k, v) for k, v in (qualifiers or {}).items() if v)
    if qs:
        out += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in qs)
    return out
