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
