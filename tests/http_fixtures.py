"""A static HTTP server on 127.0.0.1 (a free port) over a directory, for ADD URL and URL
context tests (stopped when the block ends), the tarballs they serve, and the one-line
"served" server the RUN networking tests reach (or must not reach)."""

from __future__ import annotations

import contextlib
import http.server
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serve_directory(docroot: Path) -> Iterator[str]:
    """Serve ``docroot``; yields http://127.0.0.1:PORT."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(docroot), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def tar_bytes(files: dict[str, str], mode: str = "w:gz") -> bytes:
    """A tar (gzip by default) of text files, by name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class _Served(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"served\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _FreebindServer(http.server.HTTPServer):
    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: e.g. a bridge gateway that exists only during a step
        super().server_bind()


@contextlib.contextmanager
def serve_served(address: str, freebind: bool = False) -> Iterator[int]:
    """A server on ``address`` (a free port) answering every GET with "served"; yields the port."""
    server = (_FreebindServer if freebind else http.server.HTTPServer)((address, 0), _Served)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def slirp_fetch(port: int, dest: str) -> str:
    """Shell for a step: GET the test's 127.0.0.1 server through slirp4netns's host-loopback
    address into ``dest``, or write "unreachable" there."""
    from pybuild.builder.sandbox.slirp import GATEWAY

    return (f"{{ printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {GATEWAY} {port} > {dest} && grep -q served {dest}; }}"
            f" || echo unreachable > {dest}")
