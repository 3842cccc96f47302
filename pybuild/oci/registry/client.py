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
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import httpx

from pybuild.errors import DigestMismatch, IntegrityError, RegistryError
from pybuild.events import BLOB, EventCallback, emit
from pybuild.oci import limits as limits_mod
from pybuild.oci import spec
from pybuild.oci.digest import CHUNK, Digest
from pybuild.oci.registry import credentials as creds_mod
from pybuild.oci.registry.auth import AuthSession, RegistryAuth
from pybuild.oci.registry.blob_reader import BlobReader
from pybuild.oci.registry.config import api_host, is_loopback
from pybuild.oci.registry.options import (
    RegistryOptions,
    RetryPolicy,
    _ssl_context,
)
from pybuild.oci.registry.replies import _describe, _registry_error, _retry_after, timeout_message

MAX_MANIFEST = spec.MAX_DOCUMENT_SIZE  # 4 MiB
MAX_TAGS_PAGE = 4 << 20
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
