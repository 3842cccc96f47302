"""What both document writers share: the subject an SBOM describes and file digests."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pybuild.sbom.rootfs import RootFS

# the namespace pybuild's document names and serial numbers are derived in (uuid5), so the same
# image catalogued twice gives the same document (issue 17's reproducibility)
NAMESPACE = uuid.UUID("6a1f4f52-3c2e-5b0e-9d7a-2f0b1c9e7a11")


@dataclass(frozen=True)
class Subject:
    """The image an SBOM describes: a name as the user gave it, and its digest (config or
    manifest: whatever identifies it where it was read)."""

    name: str
    digest: str


def timestamp(epoch: int | None) -> str:
    """``epoch`` (or now) as the UTC second both formats write."""
    when = datetime.fromtimestamp(epoch, UTC) if epoch is not None else datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_uuid(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "\n".join(parts))


def file_digests(root: RootFS, path: str) -> tuple[str, str] | None:
    """(sha1, sha256) of the file at ``path``; None when it is not a regular file."""
    host = root.host_path(path)
    if host is None:
        return None
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    fd = root.open(path)
    with open(fd, "rb") as f:
        while chunk := f.read(1 << 20):
            sha1.update(chunk)
            sha256.update(chunk)
    return sha1.hexdigest(), sha256.hexdigest()


def dumps(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
