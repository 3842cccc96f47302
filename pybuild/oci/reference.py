"""Image references, normalised the way Docker and containers/image do it.

``busybox`` means ``docker.io/library/busybox:latest``; the first path component
is a registry only when it contains ``.`` or ``:``, is ``localhost``, or has
uppercase letters (distribution/reference's rule). Repository paths must be
lowercase. Digests are validated by :class:`Digest`, so a reference never
smuggles ``../`` into a URL or a file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pybuild.errors import IntegrityError, InvalidReference
from pybuild.lazyre import lazy
from pybuild.oci.digest import Digest

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"
OFFICIAL_NAMESPACE = "library"
LOCAL_REGISTRY = "localhost"
DEFAULT_TAG = "latest"

_COMPONENT = lazy(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = lazy(r"^[\w][\w.-]{0,127}$", re.ASCII)
_HOST_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = lazy(rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")
_HEX64 = lazy(r"^[0-9a-f]{64}$")
MAX_NAME_LENGTH = 255


def _looks_like_registry(component: str) -> bool:
    return ("." in component or ":" in component or component == LOCAL_REGISTRY
            or component.lower() != component)


def is_short_name(s: str) -> bool:
    """True when ``s`` names no registry (``busybox``, ``library/busybox:1``)."""
    name = s.split("@", 1)[0]
    first, sep, _ = name.partition("/")
    return not sep or not _looks_like_registry(first)


@dataclass(frozen=True)
class Reference:
    """A normalised image reference; ``tag`` and ``digest`` may both be set."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, s: str, *, default_tag: bool = True) -> Reference:
        """Parse and normalise; adds ``:latest`` when neither tag nor digest is given."""
        text = s
        if not isinstance(s, str) or not s or s != s.strip():
            raise InvalidReference(f"invalid image reference {s!r}")
        if "://" in s:
            raise InvalidReference(f"invalid image reference {s!r}: transports are not references")
        digest: Digest | None = None
        if "@" in s:
            s, _, dg = s.partition("@")
            try:
                digest = Digest(dg)
            except IntegrityError:
                raise InvalidReference(f"invalid image reference {text!r}: bad digest {dg!r}") from None
        tag: str | None = None
        slash = s.rfind("/")
        colon = s.rfind(":")
        if colon > slash:
            s, tag = s[:colon], s[colon + 1:]
            if not _TAG.match(tag):
                raise InvalidReference(f"invalid image reference {text!r}: bad tag {tag!r}")
        if not s:
            raise InvalidReference(f"invalid image reference {text!r}: no repository")
        first, sep, rest = s.partition("/")
        if sep and _looks_like_registry(first):
            registry, path = first, rest
        else:
            registry, path = DEFAULT_REGISTRY, s
        if registry == LEGACY_REGISTRY:
            registry = DEFAULT_REGISTRY
        if not _DOMAIN.match(registry):
            raise InvalidReference(f"invalid image reference {text!r}: bad registry {registry!r}")
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = f"{OFFICIAL_NAMESPACE}/{path}"
        if path.lower() != path:
            raise InvalidReference(f"invalid image reference {text!r}: repository name must be lowercase")
        for comp in path.split("/"):
            if not _COMPONENT.match(comp):
                raise InvalidReference(f"invalid image reference {text!r}: bad path component {comp!r}")
        if len(registry) + 1 + len(path) > MAX_NAME_LENGTH:
            raise InvalidReference(f"invalid image reference {text!r}: name longer than {MAX_NAME_LENGTH}")
        if registry == DEFAULT_REGISTRY and _HEX64.match(path.removeprefix("library/")) and tag is None:
            raise InvalidReference(f"invalid image reference {text!r}: a 64-hex name is an image ID")
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return cls(registry, path, tag, digest)

    @classmethod
    def local(cls, name: str) -> Reference:
        """A name for the local store as buildah has it: ``myapp`` -> ``localhost/myapp:latest``.

        Names that already start with a registry are kept as they are.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidReference("empty image name")
        if is_short_name(name):
            return cls.parse(f"{LOCAL_REGISTRY}/{name}")
        return cls.parse(name)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """The short display form: ``busybox:latest``, ``user/app:1``, others in full."""
        return self.familiar_name + self._suffix()

    @property
    def familiar_name(self) -> str:
        """The short display form of the name only (``busybox``)."""
        if self.registry == DEFAULT_REGISTRY:
            return self.repository.removeprefix(f"{OFFICIAL_NAMESPACE}/")
        return self.name

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        try:
            return replace(self, digest=Digest(digest))
        except IntegrityError:
            raise InvalidReference(f"invalid digest {digest!r}") from None

    @property
    def reference(self) -> str:
        """What to ask a registry for: the digest when pinned, else the tag."""
        return str(self.digest) if self.digest else (self.tag or DEFAULT_TAG)


__all__ = ["Reference", "is_short_name", "DEFAULT_REGISTRY", "LOCAL_REGISTRY", "DEFAULT_TAG"]
