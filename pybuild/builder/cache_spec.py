"""``--cache-to`` / ``--cache-from`` / ``--cache-ttl`` values, parsed (pure, no I/O).

Two spellings name a remote step cache:

- BuildKit's ``type=registry,ref=REPO:TAG[,mode=min|max][,compression=gzip|zstd|uncompressed]``
  and ``type=local,dest=DIR`` (to) / ``type=local,src=DIR`` (from), with ``tag=`` naming the
  entry of the OCI layout's index (default ``latest``): one manifest lists every cached step.
- buildah's bare ``REPO`` (no tag): each cached step is a small image ``REPO:KEY``.

What pybuild cannot do is refused in one line (``type=inline``, ``type=gha``, an unknown key),
never accepted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pybuild.errors import ConfigError, InvalidReference

BUNDLE = "registry"  # one manifest listing every step (BuildKit's type=registry)
LOCAL = "local"  # the same manifest in an OCI layout directory
PER_KEY = "repo"  # buildah's: a tag per step key

_COMPRESSIONS = {"gzip": "gzip", "zstd": "zstd", "uncompressed": "none"}
_TO_KEYS = {"type", "ref", "dest", "mode", "compression", "tag"}
_FROM_KEYS = {"type", "ref", "src", "tag"}


@dataclass(frozen=True)
class CacheLocation:
    """Where a remote cache lives and, for an export, what goes there."""

    kind: str  # BUNDLE | LOCAL | PER_KEY
    ref: str  # BUNDLE: REGISTRY/REPO:TAG; PER_KEY: REGISTRY/REPO; LOCAL: a directory
    tag: str = "latest"  # LOCAL: the index entry's name
    mode: str = "min"  # min: the final stage's steps; max: every stage's
    compression: str = "gzip"  # gzip | zstd | none

    @property
    def display(self) -> str:
        if self.kind == LOCAL:
            return f"{self.ref} ({self.tag})"
        return self.ref


def _fields(value: str, flag: str, allowed: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or not key or not val:
            raise ConfigError(f"{flag} {value}: expected KEY=VALUE, got {part!r}")
        if key not in allowed:
            raise ConfigError(f"{flag} {value}: {key}= is not supported (known: {', '.join(sorted(allowed))})")
        out[key] = val
    return out


def _repository(value: str, flag: str) -> str:
    """buildah's REPO: a repository without tag or digest (each step's key is the tag)."""
    from pybuild.oci.reference import Reference

    raw = value.removeprefix("docker://")
    try:
        ref = Reference.parse(raw, default_tag=False)
    except InvalidReference as e:
        raise ConfigError(f"{flag} {value}: {e.message}") from None
    if ref.tag or ref.digest:
        raise ConfigError(f"{flag} {value}: a repository is wanted, without tag or digest "
                          "(each cached step is tagged by its key; BuildKit's spelling "
                          "type=registry,ref=REPO:TAG keeps them under one tag)")
    return f"{ref.registry}/{ref.repository}"


def _tagged(value: str, flag: str, ref: str) -> str:
    from pybuild.oci.reference import Reference

    try:
        parsed = Reference.parse(ref.removeprefix("docker://"))
    except InvalidReference as e:
        raise ConfigError(f"{flag} {value}: {e.message}") from None
    if parsed.digest is not None:
        raise ConfigError(f"{flag} {value}: ref= needs a tag, not a digest (the cache is rewritten)")
    return f"{parsed.registry}/{parsed.repository}:{parsed.tag}"


def _typed(value: str, flag: str, direction: str) -> CacheLocation:
    allowed = _TO_KEYS if direction == "to" else _FROM_KEYS
    f = _fields(value, flag, allowed)
    kind = f.get("type", "")
    if kind in ("inline", "gha", "s3", "azblob"):
        raise ConfigError(f"{flag} {value}: type={kind} is not supported (use type=registry or type=local)")
    mode = f.get("mode", "min")
    if mode not in ("min", "max"):
        raise ConfigError(f"{flag} {value}: mode={mode} (min or max)")
    comp = f.get("compression", "gzip")
    if comp not in _COMPRESSIONS:
        raise ConfigError(f"{flag} {value}: compression={comp} (gzip, zstd or uncompressed)")
    if kind == "registry":
        if "ref" not in f:
            raise ConfigError(f"{flag} {value}: type=registry needs ref=REPO:TAG")
        for bad in ("dest", "src", "tag"):
            if bad in f:
                raise ConfigError(f"{flag} {value}: {bad}= is for type=local")
        return CacheLocation(BUNDLE, _tagged(value, flag, f["ref"]), mode=mode, compression=_COMPRESSIONS[comp])
    if kind == "local":
        where = "dest" if direction == "to" else "src"
        if where not in f:
            raise ConfigError(f"{flag} {value}: type=local needs {where}=DIR")
        if "ref" in f:
            raise ConfigError(f"{flag} {value}: ref= is for type=registry")
        tag = f.get("tag", "latest")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
            raise ConfigError(f"{flag} {value}: tag={tag} is not a valid tag")
        return CacheLocation(LOCAL, f[where], tag=tag, mode=mode, compression=_COMPRESSIONS[comp])
    raise ConfigError(f"{flag} {value}: type= is missing or unknown (registry or local)")


def parse_cache_to(value: str) -> CacheLocation:
    """One ``--cache-to``: BuildKit's ``type=...`` or buildah's bare repository."""
    if "=" in value:
        return _typed(value, "--cache-to", "to")
    return CacheLocation(PER_KEY, _repository(value, "--cache-to"), mode="max")


def parse_cache_from(value: str) -> CacheLocation:
    """One ``--cache-from``: BuildKit's ``type=...`` or buildah's bare repository."""
    if "=" in value:
        return _typed(value, "--cache-from", "from")
    return CacheLocation(PER_KEY, _repository(value, "--cache-from"))


def parse_ttl(value: str) -> float:
    """``--cache-ttl``: a Go duration (``90s``, ``1h30m``, ``5h``) in seconds; 0 means none."""
    from pybuild.builder.containerfile.golang import parse_duration

    try:
        ns = parse_duration(value.strip())
    except ValueError as e:
        raise ConfigError(f"--cache-ttl {value}: {e} (e.g. 30m, 5h or 1h30m)") from None
    if ns < 0:
        raise ConfigError(f"--cache-ttl {value}: a duration of at least 0 is wanted")
    return ns / 1e9
