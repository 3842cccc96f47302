"""Real git servers on 127.0.0.1 for the git-source tests: `git daemon` (git://) and
`git http-backend` behind a Python HTTP server (smart http://), over bare repositories the
tests make and change. Free ports are picked by binding port 0; every wait is bounded."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.registry_fixtures import _wait_listening, free_port

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(*args: str, cwd: Path | None = None, when: int | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{when} +0000"
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


@dataclass
class Repo:
    """A bare repository ``bare`` (served) and its working clone ``work`` (where commits are made)."""

    bare: Path
    work: Path

    def commit(self, files: dict[str, str], message: str, when: int, executable: tuple[str, ...] = ()) -> str:
        for name, text in files.items():
            p = self.work / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            os.chmod(p, 0o755 if name in executable else 0o644)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work, when=when)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def make_repo(base: Path, name: str = "repo.git") -> Repo:
    """``base/name`` with main at a second commit and annotated tag v1 at the first:
    v1 has hello.txt "one", run.sh (0755), dir/sub.txt; main changes hello.txt to "two"."""
    if not shutil.which("git"):
        pytest.skip("git is not installed (apt-get install git)")
    bare = base / name
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = base / (name + "-work")
    git("clone", "-q", str(bare), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    repo = Repo(bare, work)
    repo.commit({"hello.txt": "one\n", "run.sh": "#!/bin/sh\necho run\n", "dir/sub.txt": "sub\n"}, "first",
                1_600_000_000, executable=("run.sh",))
    git("tag", "-a", "v1", "-m", "v1", cwd=work, when=1_600_000_000)
    git("push", "-q", "origin", "v1", cwd=work)
    repo.commit({"hello.txt": "two\n"}, "second", 1_700_000_000)
    return repo


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` serving every repository under ``base``; yields git://127.0.0.1:PORT."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                             f"--port={port}", f"--base-path={base}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, None)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _http_backend() -> str:
    exe = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, timeout=10).stdout.strip()
    return os.path.join(exe, "git-http-backend")


@contextlib.contextmanager
def git_http(base: Path) -> Iterator[str]:
    """git's smart HTTP (git http-backend as a CGI) for repositories under ``base``;
    yields http://127.0.0.1:PORT."""
    backend = _http_backend()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _cgi(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {"PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(base), "GIT_HTTP_EXPORT_ALL": "1",
                   "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                   "REMOTE_ADDR": "127.0.0.1", "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
            proc = subprocess.run([backend], input=body, env=env, capture_output=True, timeout=60)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _cgi

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
