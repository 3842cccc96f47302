"""Real registries for tests: distribution 2.8 (`docker-registry`) on 127.0.0.1, a token
server issuing ES256 JWTs, and a fault-injecting proxy for what a real registry will not do
(a reset mid-blob, corrupted bytes, 429, a redirect to another host).

Helpers, not fixtures: tests/integration/conftest.py wraps them in pytest fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

USER = "user"
PASSWORD = "pass"
SERVICE = "pybuild-test-registry"
ISSUER = "pybuild-test-issuer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"registry exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- the registry ---------------------------------------------------------------------------------


class Registry:
    """A docker-registry process; ``auth`` is None, "basic" or "token"."""

    def __init__(self, workdir: Path, *, auth: str | None = None, token_server: TokenServer | None = None,
                 relative_urls: bool = False, tls: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: error",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {workdir / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            f"  relativeurls: {'true' if relative_urls else 'false'}",
        ]
        if tls:
            self.ca_path, cert, key = make_tls_files(workdir / "tls", "127.0.0.1")
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if auth == "basic":
            htpasswd = workdir / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True).stdout
            htpasswd.write_bytes(out)
            lines += ["auth:", "  htpasswd:", "    realm: pybuild-test", f"    path: {htpasswd}"]
        elif auth == "token":
            assert token_server is not None
            lines += ["auth:", "  token:", f"    realm: {token_server.url}/token", f"    service: {SERVICE}",
                      f"    issuer: {ISSUER}", f"    rootcertbundle: {token_server.cert_path}"]
        (workdir / "config.yml").write_text("\n".join(lines) + "\n")
        self.log = open(workdir / "registry.log", "wb")  # noqa: SIM115 - closed in stop()
        # distribution reads REGISTRY_* variables as configuration (REGISTRY_AUTH_FILE would be auth.file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.proc = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_listening(self.port, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_tls_files(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``ip`` signed by it: (ca.crt, server.crt, server.key)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pybuild test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


# --- the token server ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(spki_der: bytes) -> str:
    """docker/libtrust's key ID: base32 of the first 240 bits of sha256(SPKI), 12 groups of 4."""
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class TokenServer:
    """Issues ES256 JWTs distribution trusts (kid = libtrust ID of the key in the cert bundle).

    Grants every requested action to USER/PASSWORD, pull only to anonymous callers when
    ``anonymous_pull``; counts the requests it answers in ``hits``.
    """

    def __init__(self, workdir: Path, *, anonymous_pull: bool = False, expires_in: int = 300) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        workdir.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pybuild test token signer")])
        now = time.time()
        import datetime as dt

        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(dt.datetime.fromtimestamp(now - 3600, dt.UTC))
                .not_valid_after(dt.datetime.fromtimestamp(now + 86400, dt.UTC))
                .sign(self.key, hashes.SHA256()))
        self.cert_path = workdir / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        spki = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = libtrust_key_id(spki)
        self.anonymous_pull = anonymous_pull
        self.expires_in = expires_in
        self.hits = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def _sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        signing_input = (_b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        user: str | None = None
        authz = h.headers.get("Authorization", "")
        if authz.startswith("Basic "):
            u, _, p = base64.b64decode(authz[6:]).decode().partition(":")
            if (u, p) != (USER, PASSWORD):
                self._reply(h, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                return
            user = u
        with self._lock:
            self.hits += 1
            self.requests.append({"scope": query.get("scope", []), "service": query.get("service"),
                                  "user": user})
        access = []
        for scope in query.get("scope", []):
            for one in scope.split(" "):
                typ, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = actions.split(",")
                granted = wanted if user else [a for a in wanted if a == "pull" and self.anonymous_pull]
                access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        self._reply(h, 200, {"token": self._sign(claims), "expires_in": self.expires_in})

    @staticmethod
    def _reply(h: http.server.BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the fault proxy --------------------------------------------------------------------------------

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
        "proxy-authenticate", "content-length"}


@dataclass
class Fault:
    """Inject ``kind`` into the next ``times`` requests matching ``method`` and ``path`` (a regex).

    kinds: "reset" (half the body, then the connection drops), "corrupt" (one byte flipped),
    "paginate" (answer a tag list page by page, with Link headers),
    "status" (answer ``status`` with ``headers`` instead of forwarding), "redirect" (302 to
    the proxy's BlobHost, which serves the same bytes from another origin), "hang" (read
    the request, never answer), "stall" (headers and half the body, then silence),
    "endless" (the real headers and bytes, then zeros without end: ``status`` is ignored),
    "trickle" (the body in pieces of ``piece`` bytes, flushed one by one).
    """

    method: str
    path: str
    kind: str
    times: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    piece: int = 512


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients probing https on a plain port, or dropping connections on purpose


class BlobHost:
    """Another origin (``localhost`` rather than 127.0.0.1) serving stashed bodies; it records
    the headers it received so tests can check no credentials arrived."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.seen: list[dict[str, str]] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                host.seen.append({k.lower(): v for k, v in self.headers.items()})
                body = host.bodies.get(self.path.lstrip("/"))
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rng = self.headers.get("Range")
                status, start = 200, 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-", 1)[0])
                    status = 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FaultProxy:
    """A plain-http reverse proxy in front of a registry; faults are armed with :meth:`inject`.

    ``log`` records (method, path, headers) of every request it saw, for assertions on
    what the client sent (Range, PATCH, mount...).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # host:port
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.blob_host = BlobHost()
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # ends the silences of "hang" and "stall"
        self._client = httpx.Client(follow_redirects=False, timeout=30)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.method == method and re.search(f.path, path):
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    @staticmethod
    def _read_body(h: http.server.BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        self.log.append((method, path, {k.lower(): v for k, v in headers.items()}))
        body = self._read_body(h)
        fault = self._take(method, path)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(120)
            h.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            h.send_response(fault.status)
            for k, v in fault.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if fault is not None and fault.kind == "paginate":
            self._paginate(h, path, headers)
            return
        resp = self._client.request(method, f"http://{self.upstream}{path}", headers=headers, content=body)
        data = resp.content if method != "HEAD" else b""
        if fault is not None and fault.kind == "redirect" and resp.status_code in (200, 206):
            key = uuid.uuid4().hex
            self.blob_host.bodies[key] = data
            h.send_response(302)
            h.send_header("Location", f"{self.blob_host.url}/{key}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if fault is not None and fault.kind == "corrupt" and data:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if fault is not None and fault.kind == "endless" and resp.status_code in (200, 206):
            self._endless(h, resp, data, fault)
            return
        h.send_response(resp.status_code)
        for k, v in resp.headers.multi_items():
            if k.lower() not in _HOP and k.lower() != "content-encoding":
                h.send_header(k, v)
        length = resp.headers.get("content-length") if method == "HEAD" else str(len(data))
        if length is not None:
            h.send_header("Content-Length", length)
        h.end_headers()
        if method == "HEAD":
            return
        if fault is not None and fault.kind == "stall" and len(data) > 1:
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            self._stopping.wait(120)
            h.close_connection = True
            return
        if fault is not None and fault.kind == "trickle":
            for i in range(0, len(data), fault.piece):
                h.wfile.write(data[i:i + fault.piece])
                h.wfile.flush()
                time.sleep(0.005)
            return
        if fault is not None and fault.kind == "reset" and len(data) > 1:
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            with contextlib.suppress(OSError):
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.connection.close()
            h.close_connection = True
            return
        h.wfile.write(data)

    def _endless(self, h: http.server.BaseHTTPRequestHandler, resp: httpx.Response, data: bytes,
                 fault: Fault) -> None:
        """The real bytes, then zeros until the client hangs up; no Content-Length unless
        the fault's headers carry one (a body "of size 10^15")."""
        h.send_response(resp.status_code)
        for k, v in resp.headers.multi_items():
            if k.lower() not in _HOP and k.lower() != "content-encoding":
                h.send_header(k, v)
        for k, v in fault.headers.items():
            h.send_header(k, v)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        zeros = bytes(64 << 10)
        with contextlib.suppress(OSError):
            h.wfile.write(data)
            while not self._stopping.is_set():
                h.wfile.write(zeros)
                time.sleep(0.002)  # at most ~32 MB/s: a test's disk is not the thing under test

    def _paginate(self, h: http.server.BaseHTTPRequestHandler, path: str, headers: dict[str, str]) -> None:
        """Tag-list pagination as newer registries do it (distribution 2.8 ignores ?n=)."""
        split = urlsplit(path)
        query = parse_qs(split.query)
        resp = self._client.get(f"http://{self.upstream}{split.path}", headers=headers)
        doc = resp.json()
        tags = sorted(doc.get("tags") or [])
        last = query.get("last", [""])[0]
        n = int(query.get("n", ["0"])[0] or 0) or len(tags)
        page = [t for t in tags if t > last][:n]
        data = json.dumps({"name": doc.get("name"), "tags": page}).encode()
        h.send_response(resp.status_code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        if page and page[-1] != tags[-1]:
            h.send_header("Link", f'<{split.path}?n={n}&last={page[-1]}>; rel="next"')
        h.end_headers()
        h.wfile.write(data)

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._client.close()
        self.blob_host.stop()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (not even a TLS reply):
    the registry that hangs. ``accepted`` counts the connections it took."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)  # held open, never answered

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()


# --- test images --------------------------------------------------------------------------------------


def make_layer(files: dict[str, bytes], compression: str = "gzip") -> bytes:
    """A small layer tar, compressed; deterministic (mtime 0)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    if compression == "gzip":
        import gzip

        return gzip.compress(raw, mtime=0)
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(raw)
    return raw


@dataclass
class SampleImage:
    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]  # digest -> bytes (config and layers)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def make_image(text: str = "hello", *, arch: str = "amd64", layers: int = 1, compression: str = "gzip",
               layer_size: int = 0, files: dict[str, bytes] | None = None,
               labels: dict[str, str] | None = None) -> SampleImage:
    """A tiny OCI image: ``layers`` layers holding ``text`` (plus ``layer_size`` random bytes,
    plus ``files``); ``labels`` go into the config (a large one makes a large config)."""
    blobs: dict[str, bytes] = {}
    layer_descs = []
    diff_ids = []
    for i in range(layers):
        layer_files = {f"file{i}.txt": f"{text} {i}\n".encode(), **(files or {})}
        if layer_size:
            layer_files["random.bin"] = os.urandom(layer_size)
        blob = make_layer(layer_files, compression)
        import gzip

        import zstandard

        if compression == "gzip":
            raw = gzip.decompress(blob)
        elif compression == "zstd":
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        else:
            raw = blob
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d = "sha256:" + hashlib.sha256(blob).hexdigest()
        blobs[d] = blob
        mt = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
              "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}.get(compression,
                                                                          "application/vnd.oci.image.layer.v1.tar")
        layer_descs.append({"mediaType": mt, "digest": d, "size": len(blob)})
    container_config: dict[str, Any] = {"Cmd": ["/bin/sh"], **({"Labels": labels} if labels else {})}
    config = json.dumps({"architecture": arch, "os": "linux", "config": container_config,
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    cd = "sha256:" + hashlib.sha256(config).hexdigest()
    blobs[cd] = config
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                                      "size": len(config)},
                           "layers": layer_descs}).encode()
    return SampleImage(manifest, "application/vnd.oci.image.manifest.v1+json", blobs)


def write_oci_layout(path: Path, images: dict[str, SampleImage | list[tuple[str, SampleImage]]]) -> None:
    """An OCI layout with ``images`` under ref names; a list value becomes a multi-arch index."""
    (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(data: bytes) -> str:
        d = hashlib.sha256(data).hexdigest()
        (path / "blobs" / "sha256" / d).write_bytes(data)
        return "sha256:" + d

    entries = []
    for name, img in images.items():
        if isinstance(img, list):
            children = []
            for arch, child in img:
                for data in child.blobs.values():
                    put(data)
                children.append({"mediaType": child.media_type, "digest": put(child.manifest),
                                 "size": len(child.manifest), "platform": {"architecture": arch, "os": "linux"}})
            index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                "manifests": children}).encode()
            entries.append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(index),
                            "size": len(index), "annotations": {"org.opencontainers.image.ref.name": name}})
        else:
            for data in img.blobs.values():
                put(data)
            entries.append({"mediaType": img.media_type, "digest": put(img.manifest), "size": len(img.manifest),
                            "annotations": {"org.opencontainers.image.ref.name": name}})
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
