"""The registry client against an in-memory server (httpx.MockTransport): auth flow, token
cache, realm checks, upload Locations, manifest verification, retries."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pybuild.errors import AuthError, DigestMismatch, IntegrityError, RegistryError
from pybuild.oci.registry import auth as auth_mod
from pybuild.oci.registry.auth import parse_challenges
from pybuild.oci.registry.client import MANIFEST_ACCEPT, RegistryClient, RegistryOptions, RetryPolicy

HOST = "registry.example"
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, max_total=5.0)
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **opts: object) -> RegistryClient:
    options = RegistryOptions(retry=FAST, **opts)  # type: ignore[arg-type]
    return RegistryClient(HOST, options, transport=httpx.MockTransport(handler))


def test_parse_challenges() -> None:
    ch = parse_challenges(['Bearer realm="https://auth.example/token",service="reg",'
                           'scope="repository:a/b:pull,push"', 'Basic realm="x"'])
    assert ch[0].scheme == "bearer"
    assert ch[0].params == {"realm": "https://auth.example/token", "service": "reg",
                            "scope": "repository:a/b:pull,push"}
    assert ch[1].scheme == "basic"


class TokenRegistry:
    """A registry wanting Bearer tokens from https://auth.example/token."""

    def __init__(self, realm: str = "https://auth.example/token", expires_in: int = 300,
                 token_body: bytes | None = None) -> None:
        self.realm = realm
        self.expires_in = expires_in
        self.token_body = token_body
        self.token_hits = 0
        self.seen_auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example" or request.url.path == "/token":
            self.token_hits += 1
            assert request.headers.get("authorization", "").startswith("Basic ")
            body = self.token_body or json.dumps({"token": f"tok{self.token_hits}",
                                                  "expires_in": self.expires_in}).encode()
            return httpx.Response(200, content=body)
        self.seen_auth.append(request.headers.get("authorization"))
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if not request.headers.get("authorization", "").startswith("Bearer tok"):
            return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{self.realm}",service="reg"'})
        return httpx.Response(200, headers={"Content-Type": "application/json"}, json={"tags": ["a"]})


def test_bearer_token_is_fetched_once_and_reused_until_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    server = TokenRegistry(expires_in=100)
    now = [1000.0]
    monkeypatch.setattr(auth_mod.time, "monotonic", lambda: now[0])
    with client(server, creds="u:p") as c:
        repo = c.repository("a/b")
        assert repo.list_tags() == ["a"]
        assert repo.list_tags() == ["a"]
        assert server.token_hits == 1
        now[0] += 200  # past expires_in: a new token
        assert repo.list_tags() == ["a"]
        assert server.token_hits == 2
        assert server.seen_auth[-1] == "Bearer tok2"


def test_token_expiry_defaults_to_at_least_60s(monkeypatch: pytest.MonkeyPatch) -> None:
    server = TokenRegistry(expires_in=1)
    now = [0.0]
    monkeypatch.setattr(auth_mod.time, "monotonic", lambda: now[0])
    with client(server, creds="u:p") as c:
        c.repository("a/b").list_tags()
        now[0] += 30
        c.repository("a/b").list_tags()
        assert server.token_hits == 1


@pytest.mark.parametrize("realm,why", [
    ("http://auth.example/token", "plain http"),
    ("https://169.254.169.254/token", "link-local"),
    ("https://10.1.2.3/token", "private"),
    ("file:///etc/passwd", "not http"),
])
def test_dangerous_realms_are_refused(realm: str, why: str) -> None:
    server = TokenRegistry(realm=realm)
    with client(server, creds="u:p") as c, pytest.raises(AuthError, match=why):
        c.repository("a/b").list_tags()
    assert server.token_hits == 0


def test_oversized_token_reply_is_refused() -> None:
    server = TokenRegistry(token_body=b"x" * (auth_mod.MAX_TOKEN_BODY + 10))
    with client(server, creds="u:p") as c, pytest.raises(RegistryError, match="larger"):
        c.repository("a/b").list_tags()


def test_basic_credentials_only_after_a_basic_challenge() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.url.path == "/v2/" and "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if request.headers.get("authorization") != "Basic dTpw":  # u:p
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'},
                                  json={"errors": [{"code": "UNAUTHORIZED", "message": "nope"}]})
        return httpx.Response(200, json={"tags": []})

    with client(handler, creds="u:p") as c:
        c.ping()
    assert seen[0] is None and seen[-1] == "Basic dTpw"
    with client(handler, creds="u:wrong") as c, pytest.raises(AuthError) as e:
        c.ping()
    assert "invalid username or password" in str(e.value) and "wrong" not in str(e.value)


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def test_manifest_checks_digest_header_size_and_accept() -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}'
    accept: list[str] = []
    mode: dict[str, Any] = {"header": _digest(body), "body": body}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        accept.append(request.headers["accept"])
        return httpx.Response(200, content=mode["body"], headers={
            "Content-Type": "application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest": mode["header"]})

    with client(handler) as c:
        repo = c.repository("a/b")
        raw, mt, d = repo.get_manifest("latest")
        assert raw == body and mt.endswith("manifest.v1+json") and d == _digest(body)
        assert accept[0] == MANIFEST_ACCEPT and "application/vnd.oci.image.index.v1+json" in accept[0]
        repo.get_manifest(_digest(body))
        with pytest.raises(DigestMismatch):
            repo.get_manifest("sha256:" + "0" * 64)
        mode["header"] = "sha256:" + "1" * 64
        with pytest.raises(DigestMismatch):
            repo.get_manifest("latest")
        mode["header"] = _digest(b"x" * (5 << 20))
        mode["body"] = b"x" * (5 << 20)
        with pytest.raises(IntegrityError, match="larger"):
            repo.get_manifest("latest")


@pytest.mark.parametrize("absolute", [True, False])
def test_upload_follows_newest_location_keeping_query(absolute: bool) -> None:
    data = b"0123456789" * 10
    digest = _digest(data)
    calls: list[tuple[str, str, dict[str, str]]] = []
    received = bytearray()

    def loc(n: int) -> str:
        path = f"/v2/a/b/blobs/uploads/u{n}?_state=s{n}"
        return f"https://{HOST}{path}" if absolute else path

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        calls.append((request.method, request.url.path, dict(request.url.params)))
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": loc(0)})
        if request.method == "PATCH":
            received.extend(request.read())
            n = len([c for c in calls if c[0] == "PATCH"])
            return httpx.Response(202, headers={"Location": loc(n)})
        if request.method == "PUT":
            received.extend(request.read())
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        return httpx.Response(500)

    with client(handler, force_chunked=True, chunk_size=40) as c:
        c.repository("a/b", push=True).upload_blob(io.BytesIO(data), digest, len(data))
    assert [c[0] for c in calls] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert calls[1][1:] == ("/v2/a/b/blobs/uploads/u0", {"_state": "s0"})
    assert calls[-1][1:] == ("/v2/a/b/blobs/uploads/u3", {"_state": "s3", "digest": digest})
    assert bytes(received) == data

    calls.clear()
    received.clear()
    with client(handler) as c:  # small blob: monolithic PUT on the POST's Location
        c.repository("a/b", push=True).upload_blob(io.BytesIO(data), digest, len(data))
    assert [c[0] for c in calls] == ["POST", "PUT"]
    assert calls[1][2] == {"_state": "s0", "digest": digest}


def test_upload_of_a_short_stream_is_refused_and_cancelled() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        methods.append(request.method)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/a/b/blobs/uploads/u"})
        if request.method == "PUT":
            request.read()
            return httpx.Response(201)
        return httpx.Response(204)

    with client(handler) as c, pytest.raises(DigestMismatch):
        c.repository("a/b", push=True).upload_blob(io.BytesIO(b"short"), _digest(b"short!"), 6)
    assert methods[-1] == "DELETE"


def test_retry_after_429_then_success_and_errors_show_registry_message() -> None:
    state = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        state["n"] += 1
        if request.url.path.endswith("/tags/list") and state["n"] == 1:
            return httpx.Response(429, headers={"Retry-After": "0"})
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(200, json={"tags": ["x"]})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})

    with client(handler) as c:
        repo = c.repository("a/b")
        assert repo.list_tags() == ["x"] and state["n"] == 2
        with pytest.raises(RegistryError) as e:
            repo.get_manifest("v9")
    assert str(e.value) == f"{HOST}/a/b:v9: not found (MANIFEST_UNKNOWN: manifest unknown)"


def test_redirect_to_same_origin_keeps_auth_foreign_drops_it() -> None:
    seen: dict[str, str | None] = {}
    blob = b"blob-bytes"
    d = _digest(blob)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        seen[f"{request.url.host}{request.url.path}"] = request.headers.get("authorization")
        if request.url.host == HOST and request.url.path.endswith(d):
            return httpx.Response(307, headers={"Location": "/elsewhere"})
        if request.url.path == "/elsewhere":
            return httpx.Response(302, headers={"Location": "https://cdn.example/blob"})
        return httpx.Response(200, content=blob)

    with client(handler, creds="u:p") as c:
        c.session.challenge = parse_challenges(['Basic realm="r"'])[0]
        with c.repository("a/b").open_blob(d, len(blob)) as f:
            assert f.read() == blob
    assert seen[f"{HOST}/elsewhere"] is not None
    assert seen["cdn.example/blob"] is None


def test_refused_mount_uploads_into_the_session_the_registry_opened() -> None:
    from pybuild.oci.registry.transport import RegistryDestination
    from pybuild.oci.spec import Descriptor

    data = b"layer"
    d = _digest(data)
    calls: list[tuple[str, str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        calls.append((request.method, request.url.path, dict(request.url.params)))
        if request.method == "POST":  # mount refused: 202 with a fresh upload session
            return httpx.Response(202, headers={"Location": "/v2/dst/blobs/uploads/m1?_state=q"})
        if request.method == "PUT":
            request.read()
            return httpx.Response(201)
        return httpx.Response(500)

    dst = RegistryDestination.__new__(RegistryDestination)
    dst.options = RegistryOptions(retry=FAST, mount_from={d: "src/repo"})
    c = RegistryClient(HOST, dst.options, transport=httpx.MockTransport(handler))
    dst._repo = c.repository("dst", push=True)
    try:
        dst.put_blob(Descriptor("application/octet-stream", d, len(data)), io.BytesIO(data))
    finally:
        c.close()
    assert calls[0][2] == {"mount": d, "from": "src/repo"}
    assert [m for m, _, _ in calls] == ["POST", "PUT"]
    assert calls[1][1:] == ("/v2/dst/blobs/uploads/m1", {"_state": "q", "digest": d})


# --- bounds: pieces, stalls, sizes, timeouts (issue 11 item 8, issue 10 item 13) ----------------


class Pieces(httpx.SyncByteStream):
    """A body delivered in pieces; ``fail`` raises at one piece (a stall), ``after`` runs between."""

    def __init__(self, pieces: list[bytes], fail: dict[int, Exception] | None = None,
                 after: Callable[[], None] | None = None) -> None:
        self.pieces = pieces
        self.fail = fail or {}
        self.after = after

    def __iter__(self) -> Any:
        for i, p in enumerate(self.pieces):
            if i in self.fail:
                raise self.fail[i]
            yield p
            if self.after:
                self.after()


def blob_server(blob: bytes, bodies: list[Pieces], seen: list[httpx.Request] | None = None,
                headers: dict[str, str] | None = None) -> Handler:
    """Answers /v2/ and GETs of the blob with the next of ``bodies`` (Range honoured by slicing)."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if seen is not None:
            seen.append(request)
        rng = request.headers.get("range")
        if rng:
            start = int(rng[6:].split("-")[0])
            return httpx.Response(206, stream=Pieces([blob[start:]]),
                                  headers={"content-range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
        return httpx.Response(200, stream=bodies.pop(0), headers=headers or {})
    return handler


def test_read_returns_every_byte_asked_for_when_the_body_arrives_in_pieces() -> None:
    blob = bytes(range(256)) * 20  # a 5 KiB config arriving 512 bytes at a time
    d = _digest(blob)
    pieces = [blob[i:i + 512] for i in range(0, len(blob), 512)]
    with client(blob_server(blob, [Pieces(pieces)])) as c, c.repository("a/b").open_blob(d, len(blob)) as f:
        assert f.read(4 << 20) == blob


def test_inspect_reads_the_whole_config_when_it_arrives_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybuild.oci.registry import transport

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Labels": {f"k{i}": "v" * 50 for i in range(100)}}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _digest(config), "size": len(config)},
                           "layers": []}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/manifests/1"):
            return httpx.Response(200, content=manifest,
                                  headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})
        if request.url.path.endswith(_digest(config)):
            return httpx.Response(200, stream=Pieces([config[i:i + 700] for i in range(0, len(config), 700)]))
        return httpx.Response(200)

    real = transport.RegistryClient

    def mocked(registry: str, options: Any = None, *, insecure: bool = False) -> RegistryClient:
        return real(registry, options, insecure=insecure, transport=httpx.MockTransport(handler))

    monkeypatch.setattr(transport, "RegistryClient", mocked)
    out = transport.inspect(f"{HOST}/a/b:1", RegistryOptions(retry=FAST))
    assert out["raw_config"] == config


def test_one_stall_mid_body_is_resumed_the_second_ends_the_blob() -> None:
    blob = b"x" * 3000
    d = _digest(blob)
    stall = httpx.ReadTimeout("timed out")
    seen: list[httpx.Request] = []
    once = [Pieces([blob[:1000], b""], fail={1: stall})]
    with client(blob_server(blob, once, seen), idle_timeout=7.0) as c, \
            c.repository("a/b").open_blob(d, len(blob)) as f:
        assert f.read() == blob
    assert seen[-1].headers["range"] == "bytes=1000-"

    def stalls_then_stalls(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, stream=Pieces([blob[:1000], b""], fail={1: stall}))

    with client(stalls_then_stalls, idle_timeout=7.0) as c, pytest.raises(RegistryError) as e:
        with c.repository("a/b").open_blob(d, len(blob)) as f:
            f.read()
    assert "stalled at byte 1000" in str(e.value) and "7 s (idle_timeout)" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_timeout_is_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    with client(handler, idle_timeout=3.0) as c, pytest.raises(RegistryError) as e:
        c.repository("a/b").get_manifest("1")
    assert len(calls) == 1
    assert str(e.value) == f"{HOST}/a/b:1: registry {HOST} sent nothing for 3 s (idle_timeout)"


def test_a_descriptor_over_the_maximum_is_refused_without_a_request() -> None:
    seen: list[httpx.Request] = []
    with client(blob_server(b"", [], seen), max_blob_size=1 << 20) as c, pytest.raises(IntegrityError) as e:
        c.repository("a/b").open_blob("sha256:" + "a" * 64, 10**15)
    assert "claims 1000000000000000 bytes, more than max_blob_size (1.0 MiB)" in str(e.value)
    assert seen == []


def test_bytes_after_the_descriptors_size_are_never_read_and_more_announced_is_refused() -> None:
    blob = b"the blob"
    d = _digest(blob)
    endless_calls = [0]

    def more() -> None:
        endless_calls[0] += 1

    junk = Pieces([blob + b"junk", b"more junk"] + [b"z" * 100] * 50, after=more)
    with client(blob_server(blob, [junk])) as c, c.repository("a/b").open_blob(d, len(blob)) as f:
        assert f.read() == blob
    assert endless_calls[0] <= 1  # stopped at the size: the rest of the body was never pulled

    announced = blob_server(blob, [Pieces([blob])], headers={"content-length": str(10**12)})
    with client(announced) as c, pytest.raises(DigestMismatch, match="announces 1000000000000 bytes"):
        c.repository("a/b").open_blob(d, len(blob))


def test_a_blob_slower_than_the_blob_timeout_stops() -> None:
    import time

    blob = b"y" * 4000
    d = _digest(blob)
    slow = Pieces([blob[i:i + 100] for i in range(0, len(blob), 100)], after=lambda: time.sleep(0.02))
    with client(blob_server(blob, [slow]), blob_timeout=0.1) as c, pytest.raises(RegistryError) as e:
        with c.repository("a/b").open_blob(d, len(blob)) as f:
            f.read()
    assert "took longer than 100 ms (blob_timeout;" in str(e.value)


def test_a_token_server_that_never_answers_names_the_bound() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://auth.example/token"'})

    with client(handler, idle_timeout=4.0) as c, pytest.raises(RegistryError) as e:
        c.repository("a/b").get_manifest("1")
    assert str(e.value) == f"{HOST}: token server auth.example sent nothing for 4 s (idle_timeout)"


@pytest.mark.parametrize("path", ["/v2/a/b/manifests/1", "/v2/a/b/tags/list"])
def test_a_document_that_stalls_or_breaks_mid_body_is_one_line(path: str) -> None:
    def handler(fail: Exception) -> Handler:
        def h(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v2/":
                return httpx.Response(200)
            return httpx.Response(200, stream=Pieces([b'{"tags": [', b""], fail={1: fail}),
                                  headers={"content-type": "application/json"})
        return h

    def fetch(c: RegistryClient) -> object:
        repo = c.repository("a/b")
        return repo.get_manifest("1") if "manifests" in path else repo.list_tags()

    with client(handler(httpx.ReadTimeout("timed out")), idle_timeout=2.0) as c, pytest.raises(RegistryError) as e:
        fetch(c)
    assert "sent nothing for 2 s (idle_timeout)" in str(e.value) and "\n" not in str(e.value)
    with client(handler(httpx.RemoteProtocolError("peer closed"))) as c, pytest.raises(RegistryError) as e:
        fetch(c)
    assert "connection broke while reading the" in str(e.value)
