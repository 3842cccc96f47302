"""Registry credentials: auth.json, Docker's config.json, credential helpers, --creds.

Where podman keeps them: ``$REGISTRY_AUTH_FILE`` (or ``--authfile``) alone when given;
otherwise ``$XDG_RUNTIME_DIR/containers/auth.json`` (``/run/containers/UID/auth.json``
when XDG_RUNTIME_DIR is unset), then ``~/.config/containers/auth.json``, then
``~/.docker/config.json``. A missing file means no credentials. In each file a
``credHelpers`` entry for the registry, then ``auths`` (most specific ``host/ns/repo`` key
first), then ``credsStore``, as containers/image looks them up.

Secrets never appear in an error message or an event: errors name the file and the
registry only.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

from pybuild.errors import AuthError, ConfigError

_HELPER_TIMEOUT = 60
_MAX_AUTH_FILE = 4 << 20


@dataclass(frozen=True)
class Credentials:
    """A username and secret; ``repr`` hides the secret so it never lands in a log."""

    username: str
    password: str
    identity_token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


def parse_creds(value: str) -> Credentials:
    """``--creds USER[:PASS]``; an empty user is an error (a password alone means nothing)."""
    user, _, password = value.partition(":")
    if not user:
        raise ConfigError("--creds needs a USERNAME[:PASSWORD]")
    return Credentials(user, password)


def primary_auth_file() -> str:
    """The file podman writes: $REGISTRY_AUTH_FILE, else the runtime-dir auth.json."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return env
    from pybuild.rootless import credentials_path

    return credentials_path()


def auth_files(authfile: str | None = None) -> list[str]:
    """The files consulted for credentials, most authoritative first."""
    if authfile:
        return [authfile]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [os.environ["REGISTRY_AUTH_FILE"]]
    home = os.path.expanduser("~")
    return [primary_auth_file(),
            os.path.join(home, ".config", "containers", "auth.json"),
            os.path.join(home, ".docker", "config.json")]


def _read_json(path: str, *, unreadable_is_absent: bool = False) -> dict[str, Any] | None:
    """An auth file's JSON; None when there is none. ``unreadable_is_absent``: a default
    location the user cannot reach (a plain user without $XDG_RUNTIME_DIR looks under root's
    0700 /run/containers) counts as no file; a file the user named must be readable."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_AUTH_FILE + 1)
    except FileNotFoundError:
        return None
    except PermissionError:
        if unreadable_is_absent:
            return None
        raise ConfigError("cannot read auth file: Permission denied", where=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not an auth file", where=path) from None
    except OSError as e:
        raise ConfigError(f"cannot read auth file: {e.strerror}", where=path) from None
    if len(raw) > _MAX_AUTH_FILE:
        raise ConfigError("auth file is too large", where=path)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ConfigError(f"auth file is not valid JSON (line {getattr(e, 'lineno', '?')})", where=path) from None
    if not isinstance(data, dict):
        raise ConfigError("auth file is not a JSON object", where=path)
    return data


def normalize_key(key: str) -> str:
    """An ``auths`` key as a bare host[/path]: Docker writes ``https://index.docker.io/v1/``."""
    k = key
    for scheme in ("https://", "http://"):
        if k.startswith(scheme):
            k = k[len(scheme):]
            k = k.split("/", 1)[0]  # Docker's URL keys carry /v1/ etc.: only the host counts
            break
    k = k.rstrip("/")
    if k in ("index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return k


def _candidates(name: str) -> list[str]:
    """``host/a/b`` -> [host/a/b, host/a, host]: the most specific auths key wins."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _decode_entry(entry: Any, where: str, registry: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise ConfigError(f"entry for {registry} is not an object", where=where)
    token = entry.get("identitytoken") or None
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=False).decode()
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"entry for {registry} has an invalid 'auth' field", where=where) from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f"entry for {registry} has an invalid 'auth' field", where=where)
        return Credentials(user, password, token)
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password", "")), token)
    if token:
        return Credentials("<token>", "", token)
    return None


def run_helper(helper: str, registry: str) -> Credentials | None:
    """``docker-credential-HELPER get``: None when the helper knows nothing of ``registry``."""
    exe = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([exe, "get"], input=registry.encode(), capture_output=True,
                              timeout=_HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        raise ConfigError(f"credential helper {exe} is not installed", where=registry) from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"credential helper {exe} timed out", where=registry) from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise ConfigError(f"credential helper {exe} failed (exit {proc.returncode})", where=registry)
    try:
        data = json.loads(proc.stdout)
        user, secret = str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"credential helper {exe} printed an unexpected reply", where=registry) from None
    if user == "<token>":
        return Credentials(user, "", secret)
    return Credentials(user, secret)


def lookup(name: str, *, authfile: str | None = None, creds: str | None = None) -> Credentials | None:
    """Credentials for ``name`` (a registry host, or host/repository), or None (anonymous)."""
    if creds:
        return parse_creds(creds)
    host = name.split("/", 1)[0]
    keys = _candidates(name)
    named = bool(authfile or os.environ.get("REGISTRY_AUTH_FILE"))
    for path in auth_files(authfile):
        data = _read_json(path, unreadable_is_absent=not named)
        if data is None:
            continue
        helpers = data.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for k, helper in helpers.items():
                if normalize_key(k) == host:
                    found = run_helper(str(helper), host)
                    if found:
                        return found
        auths = data.get("auths") or {}
        if isinstance(auths, dict):
            normalized = {normalize_key(k): v for k, v in auths.items()}
            for key in keys:
                if key in normalized:
                    found = _decode_entry(normalized[key], path, key)
                    if found:
                        return found
        store = data.get("credsStore")
        if store:
            found = run_helper(str(store), host)
            if found:
                return found
    return None


def _write_atomic(path: str, data: dict[str, Any]) -> None:
    """Write aside, fsync, rename; mode 0600 from the start (mkstemp) so no reader sees it open."""
    from pybuild.oci.layout import atomic_write_file

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    atomic_write_file(path, (json.dumps(data, indent="\t") + "\n").encode(), mode=0o600)


def store(registry: str, credentials: Credentials, *, authfile: str | None = None) -> str:
    """Record ``credentials`` for ``registry`` in the auth file; returns the file written."""
    path = authfile or primary_auth_file()
    data = _read_json(path) or {}
    auths = data.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise ConfigError("'auths' is not an object", where=path)
    for k in [k for k in auths if normalize_key(k) == registry and k != registry]:
        del auths[k]
    token = f"{credentials.username}:{credentials.password}".encode()
    auths[registry] = {"auth": base64.b64encode(token).decode()}
    _write_atomic(path, data)
    return path


def remove(registry: str | None, *, authfile: str | None = None) -> bool:
    """Forget ``registry`` (or every registry when None); True when something was removed."""
    path = authfile or primary_auth_file()
    data = _read_json(path)
    if not data:
        return False
    auths = data.get("auths")
    if not isinstance(auths, dict) or not auths:
        return False
    if registry is None:
        data["auths"] = {}
    else:
        keys = [k for k in auths if normalize_key(k) == registry or k == registry]
        if not keys:
            return False
        for k in keys:
            del auths[k]
    _write_atomic(path, data)
    return True


def stored_username(registry: str, *, authfile: str | None = None) -> str:
    """The user name recorded for ``registry`` (``login --get-login``)."""
    found = lookup(registry, authfile=authfile)
    if found is None:
        raise AuthError("not logged in", where=registry)
    return found.username


__all__ = ["Credentials", "parse_creds", "primary_auth_file", "auth_files", "lookup", "store", "remove",
           "stored_username", "normalize_key", "run_helper"]
