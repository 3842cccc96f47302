"""A build's attestations: made once the final image is written, kept with it in the store.

The predicates (an SBOM of the final image's tree, SLSA provenance of the build) are blobs
of the store's layout, listed in the image's meta record (``attestations``: predicate type,
digest, size), so gc keeps them while the image lives. They become in-toto statements only
when the image is pushed (:func:`predicates_for_push`), because a statement's subject is the
digest of the manifest as written there, which a built image gets only then.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from pybuild.builder.records import AttestationRef
from pybuild.events import INFO, emit

if TYPE_CHECKING:
    from pybuild.builder.executor import Build
    from pybuild.builder.store import Image, Store
    from pybuild.oci.attestation import Predicate


def _sbom(b: Build, image: Image) -> bytes:
    from pybuild.oci.layout import atomic_write_file
    from pybuild.sbom import catalog
    from pybuild.sbom.image import render, store_rootfs

    att = b.opts.attest
    fixed = b.opts.output.timestamp is not None or b.opts.output.source_date_epoch is not None
    with store_rootfs(b.store, image) as (root, subject):
        found = catalog(root)
        data = render(found, root, subject, att.sbom or "spdx-json", epoch=int(b.now) if fixed else None)
    for path, ecosystem in sorted(found.unread.items()):
        emit(b.on_event, INFO, f"SBOM: {path} ({ecosystem}) is not read yet: its packages are not listed")
    if att.sbom_output:
        atomic_write_file(att.sbom_output, data)
    if att.sbom_purl_output:
        atomic_write_file(att.sbom_purl_output, "".join(f"{p.purl}\n" for p in found.packages).encode())
    emit(b.on_event, INFO, f"SBOM: {len(found.packages)} packages")
    return data


def record(b: Build, image: Image) -> None:
    """Make what ``b.opts.attest`` asks for and record it with ``image``."""
    from pybuild.builder import provenance
    from pybuild.oci.attestation import CYCLONEDX_PREDICATE, SPDX_PREDICATE

    att = b.opts.attest
    made: list[tuple[str, bytes]] = []
    if att.sbom:
        made.append((CYCLONEDX_PREDICATE if att.sbom == "cyclonedx-json" else SPDX_PREDICATE, _sbom(b, image)))
    if att.provenance:
        pred = provenance.predicate(b, att.provenance, finished=time.time())
        made.append((provenance.PREDICATE_TYPE, (json.dumps(pred, indent=2) + "\n").encode()))
    entries = []
    from pybuild.oci.digest import Digest

    for ptype, data in made:
        b.store.hold(blobs=[str(Digest.of_bytes(data))])  # leased until the meta record names it
        digest, size = b.store.layout.put_bytes(data)
        entries.append(AttestationRef(ptype, Digest(digest), size))
    with b.store.lock():
        meta = b.store.image_meta(image.id)
        meta.attestations = entries
        b.store.set_image_meta(image.id, meta)


def recorded(store: Store, image: Image) -> list[AttestationRef]:
    """The attestations recorded with ``image`` (predicate type, digest, size)."""
    return list(store.image_meta(image.id).attestations)


def predicates_for_push(store: Store, image: Image) -> list[Predicate]:
    from pybuild.oci.attestation import Predicate

    return [Predicate(a.predicate_type, store.layout.read_blob(a.digest, a.size))
            for a in recorded(store, image)]


def subject_name(image: Image, platform: str, asked: str | None = None) -> str:
    """The statements' subject name, as BuildKit writes it: ``pkg:docker/NAME@TAG?platform=...``
    for the name the image was pushed by (``asked``, when it is one of its names), else its first."""
    from pybuild.builder.provenance import image_uri
    from pybuild.builder.store import normalize_name

    name = image.names[0] if image.names else ""
    if asked:
        try:
            full = normalize_name(asked)
        except Exception:  # noqa: BLE001 - an ID or a prefix of one: not a name
            full = ""
        name = full if full in image.names else name
    return image_uri(name, platform) if name else f"sha256:{image.id}"


# --- the flags' spellings (BuildKit's --attest/--provenance/--sbom=true, buildah's --sbom) ------

SBOM_FORMATS = {"spdx": "spdx-json", "spdx-json": "spdx-json", "cyclonedx": "cyclonedx-json",
                "cyclonedx-json": "cyclonedx-json", "true": "spdx-json", "1": "spdx-json"}
SCANNER_PRESETS = ("syft", "syft-cyclonedx", "syft-spdx", "trivy", "trivy-cyclonedx", "trivy-spdx")
_SCANNER = ("pybuild lists the image's packages itself, offline, and runs no scanner image: "
            "use --sbom spdx or --sbom cyclonedx")


def _fields(value: str, flag: str) -> dict[str, str]:
    from pybuild.errors import ConfigError

    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {value}: expected KEY=VALUE[,KEY=VALUE...]")
        out[key.strip().lower()] = val.strip()
    return out


def _false(value: str) -> bool:
    return value.lower() in ("false", "0", "no", "off")


def sbom_format(value: str, flag: str = "--sbom") -> str | None:
    """``--sbom VALUE`` -> the SBOM format, None for false; scanner presets refused."""
    from pybuild.errors import ConfigError, UnsupportedError

    low = value.strip().lower()
    if _false(low):
        return None
    if low in SBOM_FORMATS:
        return SBOM_FORMATS[low]
    if low in SCANNER_PRESETS or low.startswith("generator="):
        raise UnsupportedError(f"{flag} {value}: {_SCANNER}")
    raise ConfigError(f"{flag} {value}: unknown (use spdx, cyclonedx, or true/false)")


def provenance_mode(value: str, flag: str = "--provenance") -> str | None:
    """``--provenance VALUE`` (true | false | min | max | mode=M[,version=v1]) -> min | max | None."""
    from pybuild.errors import ConfigError, UnsupportedError

    low = value.strip().lower()
    if _false(low):
        return None
    if low in ("true", "1"):
        return "min"
    if low in ("min", "max"):
        return low
    fields = _fields(low, flag)
    if _false(fields.pop("disabled", "false")) is False:
        return None
    mode = fields.pop("mode", "min")
    version = fields.pop("version", "v1")
    if mode not in ("min", "max"):
        raise ConfigError(f"{flag} {value}: mode must be min or max")
    if version != "v1":
        raise UnsupportedError(f"{flag} {value}: pybuild writes SLSA provenance v1 only (version=v1)")
    if fields:
        raise UnsupportedError(f"{flag} {value}: {', '.join(sorted(fields))} not supported "
                               "(mode= and version=v1 are)")
    return mode


def parse_attest(values: list[str] | tuple[str, ...], *, sbom: str | None = None,
                 provenance: str | None = None) -> tuple[str | None, str | None]:
    """``--attest`` values with ``--sbom`` and ``--provenance`` -> (SBOM format, provenance mode)."""
    from pybuild.errors import ConfigError, UnsupportedError

    sbom_fmt = sbom_format(sbom) if sbom is not None else None
    mode = provenance_mode(provenance) if provenance is not None else None
    for value in values:
        fields = _fields(value, "--attest")
        kind = fields.pop("type", "")
        disabled = not _false(fields.pop("disabled", "false"))
        if kind == "sbom":
            if "generator" in fields:
                raise UnsupportedError(f"--attest {value}: {_SCANNER}")
            if fields:
                raise UnsupportedError(f"--attest {value}: {', '.join(sorted(fields))} not supported")
            sbom_fmt = None if disabled else (sbom_fmt or "spdx-json")
        elif kind == "provenance":
            rest = ",".join(f"{k}={v}" for k, v in fields.items())
            mode = None if disabled else provenance_mode(rest or "true", "--attest")
        else:
            raise ConfigError(f"--attest {value}: type must be sbom or provenance")
    return sbom_fmt, mode


def inspect_attestations(store: Store | None, ref: str, **options: Any) -> list[dict[str, Any]]:
    """``inspect --attestations``: a store image's recorded predicates, or (``store`` None) the
    statements a transport's index carries (:func:`pybuild.oci.attestation.read_attestations`)."""
    from pybuild.oci import spec

    if store is None:
        from pybuild.oci.attestation import read_attestations
        from pybuild.oci.transport import open_source

        src = open_source(ref, **options)
        try:
            return read_attestations(src)
        finally:
            src.close()
    out = []
    for entry in recorded(store, store.image(ref)):
        data = store.layout.read_blob(entry.digest, entry.size)
        out.append({**entry.to_json(), "predicate": spec.load_json(data, "attestation", 256 << 20)})
    return out
