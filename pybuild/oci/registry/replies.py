"""What a registry's replies mean: a refused request as one error line with the registry's own
code and message, a Retry-After as seconds, a timeout as the setting that bounds it.

Apart from client.py so that the client and the blob reader (blob_reader.py) share them.
"""

from __future__ import annotations

import time

import httpx

from pybuild.errors import AuthError, RegistryError, RegistryNotFound
from pybuild.oci import limits as limits_mod
from pybuild.oci.registry.auth import _read_capped
from pybuild.oci.registry.options import RegistryOptions

MAX_ERROR_BODY = 64 << 10


def _registry_error(resp: httpx.Response, what: str, had_credentials: bool = False) -> RegistryError:
    """The one-line error for a refused request, with the registry's own code and message."""
    detail = ""
    try:
        body = _read_capped(resp, MAX_ERROR_BODY) if not resp.is_closed else resp.content[:MAX_ERROR_BODY]
        import json

        errs = json.loads(body).get("errors") or []
        if errs and isinstance(errs[0], dict):
            code, msg = errs[0].get("code", ""), errs[0].get("message", "")
            detail = f"{code}: {msg}" if code and msg else str(code or msg)
    except Exception:  # noqa: BLE001 - the body is only decoration for the message
        detail = ""
    finally:
        resp.close()
    status = resp.status_code
    suffix = f" ({detail})" if detail else ""
    if status == 401:
        if had_credentials:
            return AuthError(f"invalid username or password{suffix}", where=what)
        return AuthError(f"authentication required{suffix}", where=what)
    if status == 403:
        return AuthError(f"access denied{suffix}", where=what)
    if status == 404:
        return RegistryNotFound(f"not found{suffix}", where=what)
    return RegistryError(f"registry answered HTTP {status}{suffix}", where=what)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


def timeout_message(e: httpx.TimeoutException, host: str, options: RegistryOptions) -> str:
    """What timed out, for how long, and which setting bounds it."""
    if isinstance(e, httpx.ConnectTimeout):
        return (f"cannot connect to registry {host}: no answer within "
                f"{limits_mod.describe(options.connect_timeout)} (connect_timeout)")
    if isinstance(e, httpx.WriteTimeout):
        return (f"registry {host} took nothing for {limits_mod.describe(options.idle_timeout)} "
                "(idle_timeout)")
    if isinstance(e, httpx.PoolTimeout):
        return (f"no free connection to registry {host} within "
                f"{limits_mod.describe(options.idle_timeout)} (idle_timeout)")
    return f"registry {host} sent nothing for {limits_mod.describe(options.idle_timeout)} (idle_timeout)"


def _describe(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
