"""The distribution-API client: one :class:`RegistryClient` per registry host, one
:class:`Repository` per repository in it.

Thread-safe (one ``httpx.Client`` shared; copy runs several blob transfers at once).
``follow_redirects=False`` everywhere: blob GETs follow redirects themselves and drop
the Authorization header when the redirect leaves the registry's origin (CVE-2020-15157).
Requests are retried with backoff on connection errors, 429 (honouring Retry-After) and
5xx, a few attempts within a bounded time; a blob download that breaks mid-way resumes
with ``Range`` from the bytes already delivered. Time and size are bounded by the
options (defaults from pybuild.conf, pybuild/oci/limits.py): connect and idle timeouts on
every request (a timeout is not retried: it already waited as long as allowed), a total
time per blob, and a largest blob a descriptor may claim.

Errors are one line naming the image and what the registry said
(``errors[0].code: message``); 401/403 -> :class:`AuthError`, 404 ->
:class:`RegistryNotFound`.
"""

from __future__ import annotations

import contextlib
import io
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import httpx

from pybuild.errors import AuthError, DigestMismatch, IntegrityError, RegistryError, RegistryNotFound
from pybuild.events import BLOB, EventCallback, emit
from pybuild.oci import limits as limits_mod
from pybuild.oci import spec
from pybuild.oci.digest import CHUNK, Digest
from pybuild.oci.registry import credentials as creds_mod
from pybuild.oci.registry.auth import AuthSession, RegistryAuth, _read_capped
from pybuild.oci.registry.config import api_host, is_loopback

MAX_MANIFEST = spec.MAX_DOCUMENT_SIZE  # 4 MiB
MAX_ERROR_BODY = 64 << 10
MAX_TAGS_PAGE = 4 << 20
CHUNKED_THRESHOLD = 32 << 20
CHUNK_SIZE = 16 << 20
MANIFEST_ACCEPT = ", ".join([spec.OCI_MANIFEST, spec.OCI_INDEX, spec.DOCKER_MANIFEST, spec.DOCKER_MANIFEST_LIST])
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Which repositories of a registry are known to hold a blob: filled by pulls and pushes,
# read by pushes to offer a cross-repository mount (containers/image keeps the same cache).
_known_locations: dict[tuple[str, str], set[str]] = {}
_known_lock = threading.Lock()

# The annotation a caller may set on a Descriptor handed to put_blob to say "this blob
# lives in repository X of the same registry: mount it from there" (value: the repository
# path, e.g. "library/busybox"). RegistryOptions.mount_from does the same by digest.
MOUNT_FROM_ANNOTATION = "io.pybuild.mount-from"


def remember_location(registry: str, repository: str, digest: str) -> None:
    with _known_lock:
        _known_locations.setdefault((registry, digest), set()).add(repository)


def known_locations(registry: str, digest: str) -> list[str]:
    with _known_lock:
        return sorted(_known_locations.get((registry, digest), ()))


@dataclass
class RetryPolicy:
    """A few attempts within a bounded time; waits double from ``base_delay``."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_total: float = 90.0
    max_resumes: int = 5

    @classmethod
    def configured(cls) -> RetryPolicy:
        """The default, with ``retry``/``retry_delay`` from pybuild.conf or the environment."""
        conf = limits_mod.current().registry
        return cls().with_retries(conf.retry, conf.retry_delay)

    def with_retries(self, retries: int | None, delay: float | None) -> RetryPolicy:
        """buildah's --retry/--retry-delay: that many retries, a fixed delay between them;
        the time budget grows so that every retry asked for can happen."""
        from dataclasses import replace

        out = replace(self)
        if retries is not None:
            out.attempts = retries + 1
        if delay is not None:
            out.base_delay = out.max_delay = delay
        if retries is not None or delay is not None:
            out.max_total = self.max_total + out.attempts * out.max_delay
        return out


def _transfer_limits() -> limits_mod.TransferLimits:
    return limits_mod.current().registry


@dataclass
class RegistryOptions:
    """How to talk to registries; the CLI fills it from flags (--tls-verify, --creds...)."""

    tls_verify: bool | None = None  # None: verify, except loopback and insecure registries
    creds: str | None = None  # "USER[:PASS]"; overrides every auth file
    authfile: str | None = None
    cert_dir: str | None = None
    registries_conf: str | None = None
    on_event: EventCallback | None = None
    chunked_threshold: int = CHUNKED_THRESHOLD  # blobs larger than this upload with PATCH
    chunk_size: int = CHUNK_SIZE
    force_chunked: bool = False
    mount_from: dict[str, str] = field(default_factory=dict)  # digest -> repository to mount from
    retry: RetryPolicy = field(default_factory=RetryPolicy.configured)
    # time and size bounds (seconds, bytes); defaults from pybuild.conf, see pybuild/oci/limits.py
    connect_timeout: float = field(default_factory=lambda: _transfer_limits().connect_timeout)
    idle_timeout: float = field(default_factory=lambda: _transfer_limits().idle_timeout)
    blob_timeout: float = field(default_factory=lambda: _transfer_limits().blob_timeout)
    max_blob_size: int = field(default_factory=lambda: _transfer_limits().max_blob_size)
    user_agent: str = "pybuild"

    def http_timeout(self) -> httpx.Timeout:
        """Connect (with the TLS handshake) bounded by ``connect_timeout``; every wait for a
        byte to arrive or leave, or for a pooled connection, by ``idle_timeout``."""
        return httpx.Timeout(self.idle_timeout, connect=self.connect_timeout)


def _ssl_context(host: str, options: RegistryOptions, verify: bool) -> ssl.SSLContext:
    """System CAs plus *.crt from the cert dir; a *.cert/*.key pair as client certificate.

    Without verification the system CA bundle is not loaded at all: it would be unused,
    and loading it costs tens of milliseconds on every command."""
    if verify:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    dirs = [options.cert_dir] if options.cert_dir else [
        os.path.join("/etc/containers/certs.d", host), os.path.join("/etc/docker/certs.d", host)]
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        names = sorted(os.listdir(d))
        for name in names:
            path = os.path.join(d, name)
            try:
                if name.endswith(".crt"):
                    ctx.load_verify_locations(cafile=path)
                elif name.endswith(".cert"):
                    key = path[: -len(".cert")] + ".key"
                    if not os.path.exists(key):
                        raise RegistryError(f"client certificate {name} has no matching .key", where=d)
                    ctx.load_cert_chain(path, key)
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"cannot load {name}: {e}", where=d) from None
        if options.cert_dir is None:
            break
    return ctx


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


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class RegistryClient:
    """One registry host: its scheme (found by a /v2/ ping), TLS, credentials, tokens."""

    def __init__(self, registry: str, options: RegistryOptions | None = None, *, insecure: bool = False,
                 transport: httpx.BaseTransport | None = None) -> None:
        """``transport`` replaces the network (tests pass an httpx.MockTransport)."""
        self.options = options or RegistryOptions()
        self.registry = registry  # as references spell it (docker.io)
        self.host = api_host(registry)  # where the API answers
        loopback = is_loopback(self.host)
        tls = self.options.tls_verify
        # Docker's rule: loopback registries (and those marked insecure) may be plain http
        # and skip verification; --tls-verify=true forbids both, --tls-verify=false allows both.
        self.insecure = tls is False or (tls is None and (insecure or loopback))
        self._verify_ctx = _ssl_context(self.host, self.options, verify=not self.insecure)
        cred = creds_mod.lookup(registry, authfile=self.options.authfile, creds=self.options.creds)
        self.session = AuthSession(self.host, cred, verify=self._verify_ctx if not self.insecure else False,
                                   insecure=self.insecure, timeout=self.options.http_timeout(),
                                   transport=transport)
        self._transport = transport
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8)
        self._http = httpx.Client(verify=self._verify_ctx, follow_redirects=False, trust_env=True,
                                  timeout=self.options.http_timeout(), limits=limits,
                                  headers={"User-Agent": self.options.user_agent}, transport=transport)
        self._foreign: httpx.Client | None = None
        self._base: str | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._foreign is not None:
            self._foreign.close()
        self.session.close()

    def repository(self, name: str, *, push: bool = False) -> Repository:
        return Repository(self, name, push=push)

    # -- scheme discovery -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        with self._lock:
            if self._base is None:
                self._base = self._discover()
            return self._base

    def _discover(self) -> str:
        """https first; plain http only for loopback/insecure registries, after https fails."""
        last: RegistryError | None = None
        schemes = ["https", "http"] if self.insecure else ["https"]
        for scheme in schemes:
            url = f"{scheme}://{self.host}/v2/"
            # with plain http to fall back on, one https attempt: a registry that speaks only
            # http fails the TLS handshake every time, and a retry would only sleep
            attempts = 1 if scheme == "https" and len(schemes) > 1 else 2
            try:
                resp = self._send_retrying(lambda u=url: self._http.build_request("GET", u),  # type: ignore[misc]
                                           auth=None, what=self.host, attempts=attempts)
                resp.close()
                return f"{scheme}://{self.host}"
            except RegistryError as e:
                last = e
        assert last is not None
        if not self.insecure and ("SSL" in last.message or "certificate" in last.message):
            raise RegistryError(f"{last.message} (--cert-dir adds a CA; --tls-verify=false skips the check)",
                                where=self.host) from None
        raise last

    def ping(self) -> None:
        """GET /v2/ with credentials: raises AuthError when they are refused (login checks this)."""
        auth = RegistryAuth(self.session, ())
        resp = self.request("GET", "/v2/", auth=auth, what=self.registry, ok=(200,))
        resp.close()

    # -- requests ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def request(self, method: str, path: str, *, auth: httpx.Auth | None, what: str,
                ok: tuple[int, ...] = (200,), headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, content: bytes | None = None,
                body: Callable[[], Iterator[bytes]] | None = None, stream: bool = True,
                not_found: tuple[int, ...] = ()) -> httpx.Response:
        """Send with retries; return the (streaming) response when its status is in ``ok``.

        ``body`` is a factory for a streamed upload: such a request is not retried (the
        stream cannot be rewound), everything else is. Statuses in ``not_found`` are
        returned as they are (for HEAD probes).
        """
        url = self.url(path)

        def build() -> httpx.Request:
            return self._http.build_request(method, url, headers=headers, params=params,
                                            content=body() if body is not None else content)

        resp = self._send_retrying(build, auth=auth, what=what,
                                   attempts=1 if body is not None else None)
        if resp.status_code in ok or resp.status_code in not_found:
            if not stream:
                resp.read()
            return resp
        raise _registry_error(resp, what, had_credentials=auth is not None and self.session.credentials is not None)

    def _send_retrying(self, build: Callable[[], httpx.Request], *, auth: httpx.Auth | None, what: str,
                       attempts: int | None = None, client: httpx.Client | None = None) -> httpx.Response:
        policy = self.options.retry
        attempts = attempts or policy.attempts
        deadline = time.monotonic() + policy.max_total
        http = client or self._http
        for attempt in range(attempts):
            last_try = attempt == attempts - 1
            try:
                resp = http.send(build(), auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                                 stream=True)
            except httpx.TimeoutException as e:
                # not retried: the wait was already as long as the user allows for silence,
                # and a retry would multiply it (a server that accepts and never answers)
                raise RegistryError(timeout_message(e, self.host, self.options), where=what) from None
            except httpx.TransportError as e:
                if last_try or time.monotonic() + self._delay(attempt) > deadline:
                    raise RegistryError(f"cannot reach registry {self.host}: {_describe(e)}", where=what) from None
                time.sleep(self._delay(attempt))
                continue
            if resp.status_code in _RETRY_STATUS and not last_try:
                wait = _retry_after(resp) if resp.status_code == 429 else None
                wait = min(wait if wait is not None else self._delay(attempt), policy.max_delay)
                if time.monotonic() + wait <= deadline:
                    resp.close()
                    time.sleep(wait)
                    continue
            return resp
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        p = self.options.retry
        return float(min(p.base_delay * (2 ** attempt), p.max_delay))

    def send_foreign(self, url: httpx.URL, headers: dict[str, str], what: str) -> httpx.Response:
        """GET a URL outside the registry's origin (a blob redirect): no credentials ever,
        and TLS always verified unless the target is loopback."""
        if self._foreign is None:
            with self._lock:
                if self._foreign is None:
                    # built only here: loading the CA bundle costs tens of milliseconds
                    strict = _ssl_context(self.host, self.options, verify=True)
                    self._foreign = httpx.Client(verify=strict, follow_redirects=False,
                                                 timeout=self.options.http_timeout(),
                                                 headers={"User-Agent": self.options.user_agent},
                                                 transport=self._transport)
        foreign = self._foreign
        return self._send_retrying(lambda: foreign.build_request("GET", url, headers=headers),
                                   auth=None, what=what, client=foreign)


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


class Repository:
    """The distribution API for one repository: manifests, blobs, uploads, tags."""

    def __init__(self, client: RegistryClient, name: str, *, push: bool = False) -> None:
        self.client = client
        self.name = name
        self.push = push
        scope = f"repository:{name}:pull,push" if push else f"repository:{name}:pull"
        self.auth = RegistryAuth(client.session, [scope])

    @property
    def display(self) -> str:
        return f"{self.client.registry}/{self.name}"

    def _what(self, suffix: str = "") -> str:
        return f"{self.display}{suffix}"

    # -- manifests --------------------------------------------------------------------------

    def get_manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """The exact bytes, media type and digest of a manifest or index (by tag or digest)."""
        sep = "@" if reference.startswith(("sha256:", "sha512:")) else ":"
        what = self._what(sep + reference)
        resp = self.client.request("GET", f"/v2/{self.name}/manifests/{reference}", auth=self.auth,
                                   what=what, headers={"Accept": MANIFEST_ACCEPT})
        try:
            length = resp.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_MANIFEST:
                raise IntegrityError(f"manifest is larger than {MAX_MANIFEST} bytes", where=what)
            raw = self._read_body(resp, MAX_MANIFEST, "manifest", what)
        finally:
            resp.close()
        if sep == "@":
            expected = Digest(reference)
            actual = Digest.of_bytes(raw, expected.algorithm)
            if actual != expected:
                raise DigestMismatch(f"manifest has digest {actual}", where=what)
        else:
            actual = Digest.of_bytes(raw)
        header = resp.headers.get("docker-content-digest")
        if header:
            try:
                claimed = Digest(header)
            except IntegrityError:
                raise IntegrityError(f"registry sent an invalid Docker-Content-Digest {header!r}",
                                     where=what) from None
            if Digest.of_bytes(raw, claimed.algorithm) != claimed:
                raise DigestMismatch(f"manifest does not match Docker-Content-Digest {claimed}", where=what)
        media_type = resp.headers.get("content-type", "").split(";", 1)[0].strip()
        if media_type not in (*spec.MANIFEST_TYPES, *spec.INDEX_TYPES):
            try:
                doc = spec.load_json(raw, "manifest")
                media_type = (spec.guess_media_type(doc) if isinstance(doc, dict) else None) or media_type
            except IntegrityError:
                pass
        return raw, media_type, actual

    def _read_body(self, resp: httpx.Response, limit: int, what_body: str, what: str) -> bytes:
        """A small reply read whole: over ``limit`` is an error, and so is a connection that
        breaks or falls silent for ``idle_timeout`` (one line naming the bound, no retry)."""
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise IntegrityError(f"{what_body} is larger than {limit} bytes", where=what)
                chunks.append(chunk)
        except httpx.TimeoutException as e:
            raise RegistryError(f"reading the {what_body}: {timeout_message(e, self.client.host, self.client.options)}",
                                where=what) from None
        except httpx.TransportError as e:
            raise RegistryError(f"connection broke while reading the {what_body}: {_describe(e)}",
                                where=what) from None
        return b"".join(chunks)

    def manifest_digest(self, reference: str) -> Digest | None:
        """HEAD a manifest: its digest (Docker-Content-Digest), or None when it does not exist."""
        resp = self.client.request("HEAD", f"/v2/{self.name}/manifests/{reference}", auth=self.auth,
                                   what=self._what(":" + reference), headers={"Accept": MANIFEST_ACCEPT},
                                   not_found=(404,))
        resp.close()
        if resp.status_code == 404:
            return None
        header = resp.headers.get("docker-content-digest")
        return Digest(header) if header else None

    def put_manifest(self, raw: bytes, media_type: str, reference: str) -> Digest:
        """PUT the exact bytes under a tag or digest; returns their digest."""
        digest = Digest.of_bytes(raw)
        sep = "@" if reference.startswith(("sha256:", "sha512:")) else ":"
        what = self._what(sep + reference)
        resp = self.client.request("PUT", f"/v2/{self.name}/manifests/{reference}", auth=self.auth, what=what,
                                   ok=(200, 201, 202), headers={"Content-Type": media_type}, content=raw)
        resp.close()
        header = resp.headers.get("docker-content-digest")
        if header and header != digest:
            raise DigestMismatch(f"registry stored the manifest as {header}, expected {digest}", where=what)
        return digest

    # -- blobs ------------------------------------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        d = Digest(digest)
        resp = self.client.request("HEAD", f"/v2/{self.name}/blobs/{d}", auth=self.auth,
                                   what=self._what(f"@{d}"), not_found=(404,))
        resp.close()
        if resp.status_code == 200:
            remember_location(self.client.registry, self.name, d)
            return True
        return False

    def open_blob(self, digest: str, size: int | None = None,
                  on_progress: Callable[[int], None] | None = None) -> BlobReader:
        """A stream of the blob's bytes that resumes with Range after a dropped connection.

        A ``size`` above ``max_blob_size`` is refused before any request: a descriptor
        claiming a petabyte would otherwise fill the disk with whatever the server sends."""
        d = Digest(digest)
        limit = self.client.options.max_blob_size
        if size is not None and size > limit:
            raise IntegrityError(f"blob {d} claims {size} bytes, more than max_blob_size "
                                 f"({limits_mod.human_size(limit)})", where=self.display)
        reader = BlobReader(self, d, size, on_progress)
        reader.open()
        remember_location(self.client.registry, self.name, reader.digest)
        return reader

    def _get_blob_response(self, digest: Digest, offset: int) -> httpx.Response:
        """GET the blob from ``offset``, following redirects ourselves (credentials stay home)."""
        what = self._what(f"@{digest}")
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        resp = self.client.request("GET", f"/v2/{self.name}/blobs/{digest}", auth=self.auth, what=what,
                                   ok=(200, 206, *_REDIRECTS), headers=headers)
        home = _origin(resp.request.url)
        for _ in range(6):
            if resp.status_code not in _REDIRECTS:
                return resp
            location = resp.headers.get("location")
            resp.close()
            if not location:
                raise RegistryError("redirect without a Location", where=what)
            target = resp.request.url.join(location)
            if target.scheme not in ("http", "https"):
                raise RegistryError(f"refusing redirect to {target.scheme}: URL", where=what)
            if (resp.request.url.scheme == "https" and target.scheme == "http"
                    and not is_loopback(target.host)):
                raise RegistryError(f"refusing redirect from https to plain http ({target.host})", where=what)
            if _origin(target) == home:
                resp = self.client.request("GET", str(target), auth=self.auth, what=what,
                                           ok=(200, 206, *_REDIRECTS), headers=headers)
            else:
                resp = self.client.send_foreign(target, headers, what)
                if resp.status_code not in (200, 206, *_REDIRECTS):
                    raise _registry_error(resp, what)
        resp.close()
        raise RegistryError("too many redirects", where=what)

    def mount_blob(self, digest: str, from_repo: str) -> str | None:
        """Cross-repository mount. None when mounted; else the upload Location the registry
        opened instead (202), to upload into."""
        d = Digest(digest)
        what = self._what(f"@{d}")
        auth = RegistryAuth(self.client.session,
                            [f"repository:{self.name}:pull,push", f"repository:{from_repo}:pull"])
        resp = self.client.request("POST", f"/v2/{self.name}/blobs/uploads/", auth=auth, what=what,
                                   ok=(201, 202), params={"mount": str(d), "from": from_repo}, content=b"")
        resp.close()
        if resp.status_code == 201:
            remember_location(self.client.registry, self.name, d)
            return None
        return self._location(resp, what)

    def _location(self, resp: httpx.Response, what: str) -> str:
        loc = resp.headers.get("location")
        if not loc:
            raise RegistryError(f"registry answered {resp.status_code} without a Location", where=what)
        return str(resp.request.url.join(loc))

    def upload_blob(self, stream: BinaryIO, digest: str, size: int, *, location: str | None = None,
                    on_progress: Callable[[int], None] | None = None) -> None:
        """Upload ``size`` bytes from ``stream`` as blob ``digest``: monolithic PUT, or PATCH
        chunks when the blob is large (or chunked uploads are forced). The registry checks the
        digest; a mismatch is a DigestMismatch and the upload is cancelled."""
        d = Digest(digest)
        what = self._what(f"@{d}")
        opts = self.client.options
        if location is None:
            resp = self.client.request("POST", f"/v2/{self.name}/blobs/uploads/", auth=self.auth, what=what,
                                       ok=(202,), content=b"")
            resp.close()
            location = self._location(resp, what)
        sent = [0]
        deadline = time.monotonic() + opts.blob_timeout

        def chunk_body(n: int) -> Callable[[], Iterator[bytes]]:
            def gen() -> Iterator[bytes]:
                left = n
                while left > 0:
                    if time.monotonic() > deadline:
                        raise RegistryError(f"blob upload took longer than {limits_mod.describe(opts.blob_timeout)}"
                                            f" (blob_timeout; {sent[0]} of {size} bytes sent)", where=what)
                    data = stream.read(min(CHUNK, left))
                    if not data:
                        raise DigestMismatch(f"blob source ended {left} bytes early (expected {size})",
                                             where=what)
                    left -= len(data)
                    sent[0] += len(data)
                    if on_progress:
                        on_progress(sent[0])
                    yield data
            return gen

        try:
            if size <= opts.chunked_threshold and not opts.force_chunked:
                url = httpx.URL(location).copy_add_param("digest", str(d))
                resp = self.client.request("PUT", str(url), auth=self.auth, what=what, ok=(201, 204),
                                           headers={"Content-Type": "application/octet-stream",
                                                    "Content-Length": str(size)},
                                           body=chunk_body(size))
                resp.close()
            else:
                offset = 0
                chunk = max(opts.chunk_size, 1)
                while offset < size:
                    n = min(chunk, size - offset)
                    resp = self.client.request(
                        "PATCH", location, auth=self.auth, what=what, ok=(202, 204),
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(n),
                                 "Content-Range": f"{offset}-{offset + n - 1}"},
                        body=chunk_body(n))
                    resp.close()
                    location = self._location(resp, what)
                    offset += n
                url = httpx.URL(location).copy_add_param("digest", str(d))
                resp = self.client.request("PUT", str(url), auth=self.auth, what=what, ok=(201, 204),
                                           headers={"Content-Length": "0"}, content=b"")
                resp.close()
            if stream.read(1):
                raise DigestMismatch(f"blob source has more than {size} bytes", where=what)
        except RegistryError as e:
            self._cancel(location)
            if "DIGEST_INVALID" in e.message or "SIZE_INVALID" in e.message:
                raise DigestMismatch(f"registry refused the blob: {e.message}", where=what) from None
            raise
        except BaseException:
            self._cancel(location)
            raise
        remember_location(self.client.registry, self.name, d)

    def _cancel(self, location: str) -> None:
        """Best effort: tell the registry to drop an unfinished upload."""
        with contextlib.suppress(Exception):
            resp = self.client.request("DELETE", location, auth=self.auth, what=self.display,
                                       ok=(200, 202, 204, 404))
            resp.close()

    # -- tags -------------------------------------------------------------------------------

    def list_tags(self, page_size: int | None = None, max_pages: int = 10000) -> list[str]:
        """Every tag, following ``Link: <...>; rel="next"`` pagination."""
        import json

        tags: list[str] = []
        path: str | None = f"/v2/{self.name}/tags/list"
        params = {"n": str(page_size)} if page_size else None
        what = self.display
        for _ in range(max_pages):
            if path is None:
                break
            resp = self.client.request("GET", path, auth=self.auth, what=what, params=params)
            try:
                body = self._read_body(resp, MAX_TAGS_PAGE, "tag list", what)
            finally:
                resp.close()
            try:
                page = json.loads(body).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError("registry sent an invalid tag list", where=what) from None
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise RegistryError("registry sent an invalid tag list", where=what)
            tags.extend(page)
            path = _next_link(resp)
            params = None
            if path is not None:
                target = resp.request.url.join(path)
                if _origin(target) != _origin(resp.request.url):
                    raise RegistryError("tag list pagination points to another host", where=what)
                path = str(target)
        return tags


def _next_link(resp: httpx.Response) -> str | None:
    for value in resp.headers.get_list("link"):
        for part in value.split(","):
            url, _, rest = part.partition(";")
            if 'rel="next"' in rest.replace(" ", "") or "rel=next" in rest.replace(" ", ""):
                return url.strip().strip("<>")
    return None


class BlobReader(io.RawIOBase):
    """A blob's bytes as a file; a broken connection is resumed with ``Range: bytes=N-``.

    The bytes are not verified here — the ImageDestination's put_blob does that (digest and
    size) before anything becomes visible — but the reader stops at the descriptor's size
    (a body that never ends, or junk after the blob, is not read), refuses a reply whose
    Content-Length announces more, and gives up when the whole transfer outlasts ``blob_timeout``. A stall
    (nothing for ``idle_timeout``) is resumed once, as a dropped connection; a second one
    ends the transfer. ``read(n)`` returns ``n`` bytes unless the blob ends first.
    """

    def __init__(self, repo: Repository, digest: Digest, size: int | None,
                 on_progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.digest = digest
        self.size = size
        self.offset = 0
        self.resumes = 0
        self.stalls = 0
        self._resp: httpx.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._buf = b""
        self._eof = False
        self._on_progress = on_progress
        self._deadline = time.monotonic() + repo.client.options.blob_timeout

    @property
    def _where(self) -> str:
        return self.repo._what(f"@{self.digest}")

    def readable(self) -> bool:
        return True

    def open(self) -> None:
        self._check_deadline()
        resp = self.repo._get_blob_response(self.digest, self.offset)
        skip = 0
        if self.offset:
            if resp.status_code == 206:
                start = _content_range_start(resp.headers.get("content-range", ""))
                if start != self.offset:
                    resp.close()
                    raise RegistryError(f"registry resumed the blob at byte {start}, asked {self.offset}",
                                        where=self._where)
            else:
                skip = self.offset  # no Range support: read again from the start, drop what we have
        announced = resp.headers.get("content-length", "")
        if self.size is not None and announced.isdigit() and int(announced) + self.offset - skip > self.size:
            resp.close()
            raise DigestMismatch(f"registry announces {int(announced) + self.offset - skip} bytes, the "
                                 f"descriptor {self.size}", where=self._where)
        self._resp = resp
        if resp.is_stream_consumed:  # already read (an in-memory transport)
            self._iter = iter([resp.content])
        else:
            self._iter = resp.iter_raw()  # no chunk_size: a partial buffer would be lost on a reset
        while skip:
            try:
                data = self._next_raw()
            except httpx.TransportError as e:
                raise RegistryError(f"blob download broke again while skipping to byte {self.offset}: "
                                    f"{_describe(e)}", where=self._where) from None
            if not data:
                break
            if len(data) > skip:
                self._buf = data[skip:]
                skip = 0
            else:
                skip -= len(data)

    def _next_raw(self) -> bytes:
        assert self._iter is not None
        try:
            return next(self._iter, b"")
        except httpx.TimeoutException as e:
            if self.stalls:  # the second stall: the registry, not the connection, is stuck
                raise RegistryError(f"blob download stalled at byte {self.offset}: "
                                    f"{timeout_message(e, self.repo.client.host, self.repo.client.options)}",
                                    where=self._where) from None
            self.stalls += 1
            raise

    def _next_chunk(self) -> bytes:
        while True:
            self._check_deadline()
            try:
                data = self._next_raw()
            except httpx.TransportError as e:
                self._resume(e)
                continue
            if not data and self.size is not None and self.offset < self.size:
                self._resume(None)
                continue
            return data

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            opts = self.repo.client.options
            total = "" if self.size is None else f" of {self.size}"
            raise RegistryError(f"blob download took longer than {limits_mod.describe(opts.blob_timeout)} "
                                f"(blob_timeout; {self.offset}{total} bytes received)", where=self._where)

    def _resume(self, error: Exception | None) -> None:
        policy = self.repo.client.options.retry
        if self._resp is not None:
            self._resp.close()
        if self.resumes >= policy.max_resumes:
            why = _describe(error) if error else "connection closed early"
            raise RegistryError(f"blob download broke at byte {self.offset} ({why}); gave up after "
                                f"{self.resumes} resumes", where=self._where)
        self.resumes += 1
        time.sleep(min(policy.base_delay * (2 ** (self.resumes - 1)), policy.max_delay))
        self.open()

    def readinto(self, b: Any) -> int:
        if self._eof:
            return 0
        if self.size is not None and self.offset >= self.size and not self._buf:
            self._finish()  # the descriptor's size: never wait for (or take) more
            return 0
        if not self._buf:
            self._buf = self._next_chunk()
            if not self._buf:
                self._finish()
                return 0
            if self.size is not None and self.offset + len(self._buf) > self.size:
                # what follows the descriptor's size is not the blob: never taken, never awaited
                self._buf = self._buf[: self.size - self.offset]
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.offset += n
        if self._on_progress:
            self._on_progress(self.offset)
        return n

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes, fewer only at the end of the blob (RawIOBase would return one chunk)."""
        if n is None or n < 0:
            return self.readall()
        parts: list[bytes] = []
        left = n
        while left > 0:
            buf = bytearray(min(left, 1 << 20))
            got = self.readinto(buf)
            if not got:
                break
            parts.append(bytes(buf[:got]))
            left -= got
        return b"".join(parts)

    def _finish(self) -> None:
        self._eof = True
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def close(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None
        super().close()


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        unit, _, rng = value.partition(" ")
        return int(rng.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def progress_emitter(on_event: EventCallback | None, digest: str, total: int | None,
                     action: str = "Copying blob", step: int = 8 << 20) -> Callable[[int], None]:
    """A callback emitting BLOB events at most every ``step`` bytes and at the end."""
    last = [-step]

    def report(done: int) -> None:
        if done - last[0] >= step or (total is not None and done >= total):
            last[0] = done
            emit(on_event, BLOB, "", digest=digest, done=done, total=total, action=action)

    return report


def emit_blob(on_event: EventCallback | None, digest: str, done: int, total: int | None,
              action: str = "Copying blob", **extra: Any) -> None:
    emit(on_event, BLOB, "", digest=digest, done=done, total=total, action=action, **extra)


__all__ = ["RegistryOptions", "RetryPolicy", "RegistryClient", "Repository", "BlobReader",
           "MANIFEST_ACCEPT", "MOUNT_FROM_ANNOTATION", "remember_location", "known_locations",
           "progress_emitter", "emit_blob"]
