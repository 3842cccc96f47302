"""login / logout as library calls: verify credentials against the registry, then record them.

Nothing is written unless ``GET /v2/`` with the credentials succeeds, so a typo never
lands in auth.json; the write is atomic and mode 0600.
"""

from __future__ import annotations

from dataclasses import replace

from pybuild.errors import AuthError, ConfigError
from pybuild.oci.registry import credentials as creds_mod
from pybuild.oci.registry.client import RegistryClient, RegistryOptions


def normalize_registry(value: str) -> str:
    """``https://host/`` or ``host/ns`` as an auth.json key (scheme and slash dropped)."""
    key = value.strip()
    if not key:
        raise ConfigError("no registry given")
    if "://" in key:
        key = key.split("://", 1)[1].split("/", 1)[0]
    key = key.rstrip("/")
    if key in ("index.docker.io", "registry-1.docker.io"):
        key = "docker.io"
    return key


def login(registry: str, username: str, password: str, options: RegistryOptions | None = None) -> str:
    """Check ``username``/``password`` against ``registry`` and store them; returns the file written."""
    if not username:
        raise ConfigError("a username is required", where=registry)
    if not password:
        raise ConfigError("a password is required", where=registry)
    key = normalize_registry(registry)
    host = key.split("/", 1)[0]
    opts = replace(options or RegistryOptions(), creds=None)
    credentials = creds_mod.Credentials(username, password)
    with RegistryClient(host, opts) as client:
        client.session.credentials = credentials
        try:
            client.ping()
        except AuthError as e:
            raise AuthError(f"login failed: {e.message}", where=host) from None
    return creds_mod.store(key, credentials, authfile=opts.authfile)


def logout(registry: str | None, options: RegistryOptions | None = None) -> bool:
    """Forget ``registry`` (every registry when None); False when there was nothing to forget."""
    opts = options or RegistryOptions()
    key = normalize_registry(registry) if registry is not None else None
    return creds_mod.remove(key, authfile=opts.authfile)


__all__ = ["login", "logout", "normalize_registry"]
