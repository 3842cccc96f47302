"""Which strings name a transport (``oci:DIR``, ``docker://REF``, a registered ``name:``).

A leaf apart from :mod:`pybuild.oci.transport`: every FROM asks whether its image is a
transport spec before it looks in the store, and a cached build should not import the copy
machinery and its protocols to learn that it is not (issue 19).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pybuild.oci.transport import DestinationOpener, SourceOpener

BUILTIN = ("oci", "oci-archive", "docker-archive", "dir", "docker", "containers-storage")
# name -> (source opener, destination opener): filled by transport.register_transport
REGISTERED: dict[str, tuple[SourceOpener | None, DestinationOpener | None]] = {}


def is_transport_spec(spec: str) -> bool:
    """True when ``spec`` starts with a known transport name (``oci:``, ``docker://``...)."""
    name, sep, _ = spec.partition(":")
    return bool(sep) and name in {*BUILTIN, *REGISTERED}
