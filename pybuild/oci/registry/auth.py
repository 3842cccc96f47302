"""Registry authentication as an httpx.Auth flow: anonymous, Basic, Bearer tokens.

The flow sends a request (with a cached token or Basic header when the registry is
already known to want one), and on a 401 reads ``WWW-Authenticate``: ``Basic`` -> retry
with the user's credentials; ``Bearer realm=...,service=...,scope=...`` -> fetch a token
from the realm and retry. Tokens are cached per (realm, service, scope) until they expire
(``expires_in``, at least 60 s as the distribution spec says) and fetched again after.

Refused, because each has been a CVE somewhere: a realm over plain http to a host that
is not loopback (unless it is the insecure registry itself), a realm at a link-local
address, or at a private/loopback address when the registry is not on one; TLS
verification off for the token server while it is on for the registry; token bodies
over 1 MiB. Credentials are never written into an error message.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from pybuild.errors import AuthError, RegistryError
from pybuild.lazyre import lazy
from pybuild.oci.registry.config import is_loopback
from pybuild.oci.registry.credentials import Credentials

if TYPE_CHECKING:
    import ssl

MAX_TOKEN_BODY = 1 << 20
DEFAULT_EXPIRY = 60
_CHALLENGE_RE = lazy(r'([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" | "bearer" | other
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(values: Sequence[str]) -> list[Challenge]:
    """Parse WWW-Authenticate header values (each may carry one challenge, as registries send)."""
    out: list[Challenge] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        scheme, _, rest = value.partition(" ")
        params: dict[str, str] = {}
        for m in _CHALLENGE_RE.finditer(rest):
            v = m.group(2) if m.group(2) is not None else m.group(3)
            params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", v)
        out.append(Challenge(scheme.lower(), params))
    return out


def basic_header(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _host_of(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _ip_kind(host: str) -> str:
    """'loopback' | 'link-local' | 'private' | 'public' | 'name' for a host (no DNS lookup)."""
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "name"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    return "public"


class TokenCache:
    """Bearer tokens by (realm, service, scope), shared by the threads of one client."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > time.monotonic():
                return hit[0]
            self._tokens.pop(key, None)
            return None

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        with self._lock:
            # refresh a little early so a token never expires in flight
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 5, 1))

    def drop(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class AuthSession:
    """Everything one registry's requests share: credentials, known challenge, tokens."""

    def __init__(self, registry: str, credentials: Credentials | None, *, verify: ssl.SSLContext | bool,
                 insecure: bool, timeout: float | httpx.Timeout = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.registry = registry  # host[:port] of the registry API, for messages and checks
        self.credentials = credentials
        self.verify = verify
        self.insecure = insecure
        self.tokens = TokenCache()
        self.challenge: Challenge | None = None  # the last one the registry sent
        self._timeout = timeout
        self._transport = transport
        self._token_client: httpx.Client | None = None
        self._fetch_lock = threading.Lock()
        self._client_lock = threading.Lock()

    def close(self) -> None:
        if self._token_client is not None:
            self._token_client.close()
            self._token_client = None

    # -- tokens -----------------------------------------------------------------------

    def _check_realm(self, realm: str) -> httpx.URL:
        try:
            url = httpx.URL(realm)
        except (httpx.InvalidURL, TypeError):
            raise AuthError(f"registry sent an invalid token realm {realm!r}", where=self.registry) from None
        host = _host_of(url)
        kind = _ip_kind(url.host)
        same_host = host == self.registry
        if url.scheme not in ("http", "https"):
            raise AuthError(f"token realm {realm!r} is not http(s)", where=self.registry)
        if url.scheme == "http" and not (is_loopback(url.host) or (self.insecure and same_host)):
            raise AuthError(f"refusing token realm {realm!r} over plain http", where=self.registry)
        if kind == "link-local":
            raise AuthError(f"refusing token realm {realm!r} at a link-local address", where=self.registry)
        reg_kind = _ip_kind(self.registry.rsplit(":", 1)[0] if self.registry.count(":") == 1
                            else self.registry)
        if kind in ("loopback", "private") and reg_kind not in ("loopback", "private"):
            raise AuthError(f"refusing token realm {realm!r} at a {kind} address for a remote registry",
                            where=self.registry)
        return url

    def _client_for_tokens(self, realm_host: str) -> httpx.Client:
        # TLS verification for the token server is never weaker than for the registry; it is
        # only off when the registry's is off AND the realm is the registry itself.
        verify: ssl.SSLContext | bool = self.verify
        if verify is False and realm_host != self.registry:
            verify = True
        with self._client_lock:
            if self._token_client is None or getattr(self, "_token_verify", None) is not verify:
                if self._token_client is not None:
                    self._token_client.close()
                self._token_client = httpx.Client(verify=verify, follow_redirects=False,
                                                  timeout=self._timeout, trust_env=False,
                                                  transport=self._transport)
                self._token_verify = verify
            return self._token_client

    def token(self, challenge: Challenge, scopes: Sequence[str], *, force: bool = False) -> str:
        realm = challenge.params.get("realm", "")
        if not realm:
            raise AuthError("registry sent a Bearer challenge without a realm", where=self.registry)
        service = challenge.params.get("service", "")
        scope_list = list(dict.fromkeys(scopes)) if scopes else (
            challenge.params["scope"].split(" ") if challenge.params.get("scope") else [])
        key = (realm, service, " ".join(scope_list))
        if not force:
            cached = self.tokens.get(key)
            if cached:
                return cached
        with self._fetch_lock:
            if not force:
                cached = self.tokens.get(key)
                if cached:
                    return cached
            token, expires_in = self._fetch_token(realm, service, scope_list)
            self.tokens.put(key, token, expires_in)
            return token

    def _fetch_token(self, realm: str, service: str, scopes: list[str]) -> tuple[str, float]:
        url = self._check_realm(realm)
        client = self._client_for_tokens(_host_of(url))
        creds = self.credentials
        try:
            if creds is not None and creds.identity_token:
                form: dict[str, Any] = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                                        "client_id": "pybuild", "service": service}
                if scopes:
                    form["scope"] = " ".join(scopes)
                req = client.build_request("POST", url, data=form)
            else:
                params: list[tuple[str, str | int | float | bool | None]] = []
                if service:
                    params.append(("service", service))
                params.extend(("scope", s) for s in scopes)
                if creds is not None:
                    params.append(("account", creds.username))
                req = client.build_request("GET", url, params=params)
                if creds is not None:
                    req.headers["Authorization"] = basic_header(creds.username, creds.password)
            resp = client.send(req, stream=True)
            try:
                body = _read_capped(resp, MAX_TOKEN_BODY)
            finally:
                resp.close()
        except httpx.TimeoutException as e:
            t = self._timeout if isinstance(self._timeout, httpx.Timeout) else httpx.Timeout(self._timeout)
            what = (f"cannot connect to token server {_host_of(url)} within {t.connect:g} s (connect_timeout)"
                    if isinstance(e, httpx.ConnectTimeout)
                    else f"token server {_host_of(url)} sent nothing for {t.read:g} s (idle_timeout)")
            raise RegistryError(what, where=self.registry) from None
        except httpx.TransportError as e:
            raise RegistryError(f"cannot reach token server {_host_of(url)}: {type(e).__name__}",
                                where=self.registry) from None
        if resp.status_code in (401, 403):
            what = "wrong username or password" if creds is not None else "authentication required"
            raise AuthError(f"token server refused: {what}", where=self.registry)
        if resp.status_code != 200:
            raise RegistryError(f"token server {_host_of(url)} answered HTTP {resp.status_code}",
                                where=self.registry)
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
            expires_in = float(data.get("expires_in") or DEFAULT_EXPIRY)
        except (ValueError, AttributeError, TypeError):
            raise RegistryError("token server sent an invalid reply", where=self.registry) from None
        if not isinstance(token, str) or not token:
            raise RegistryError("token server sent no token", where=self.registry)
        return token, max(expires_in, DEFAULT_EXPIRY)


def _read_capped(resp: httpx.Response, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (a hostile server could send gigabytes)."""
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"reply from {resp.request.url.host} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class RegistryAuth(httpx.Auth):
    """The per-request flow; ``scopes`` are the token scopes this repository needs."""

    def __init__(self, session: AuthSession, scopes: Sequence[str] = ()) -> None:
        self.session = session
        self.scopes = list(scopes)

    def _preauthorize(self, request: httpx.Request) -> str | None:
        s = self.session
        ch = s.challenge
        if ch is None or "authorization" in request.headers:
            return None
        if ch.scheme == "basic" and s.credentials is not None and not s.credentials.identity_token:
            request.headers["Authorization"] = basic_header(s.credentials.username, s.credentials.password)
            return "basic"
        if ch.scheme == "bearer" and self.scopes:
            key = (ch.params.get("realm", ""), ch.params.get("service", ""),
                   " ".join(dict.fromkeys(self.scopes)))
            token = s.tokens.get(key)
            if token:
                request.headers["Authorization"] = f"Bearer {token}"
                return "bearer"
        return None

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        used = self._preauthorize(request)
        response = yield request
        if response.status_code != 401:
            return
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None)
        if chosen is None:
            return
        s = self.session
        s.challenge = chosen
        if chosen.scheme == "basic":
            if s.credentials is None or used == "basic":
                return  # no credentials, or the ones we have were just refused
            request.headers["Authorization"] = basic_header(s.credentials.username, s.credentials.password)
        else:
            token = s.token(chosen, self.scopes, force=used == "bearer")
            request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Only the sync client is used; the generator above does the work.
        raise NotImplementedError("pybuild's registry client is synchronous")


__all__ = ["Challenge", "parse_challenges", "TokenCache", "AuthSession", "RegistryAuth", "MAX_TOKEN_BODY"]
