"""Fixtures for integration tests: real registries (docker-registry on 127.0.0.1), a token
server and a fault proxy, started once per module and stopped at its end."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_fixtures import FaultProxy, Registry, TokenServer
from sandbox_helpers import make_rootfs, need_tool


@pytest.fixture(params=["chroot", "oci"])
def isolation(request: pytest.FixtureRequest) -> str:
    """Sandbox tests run once per isolation (oci skipped without runc)."""
    if request.param == "oci":
        need_tool("runc")
    return str(request.param)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A busybox rootfs for sandbox tests (tests/sandbox_helpers.make_rootfs)."""
    return make_rootfs(tmp_path / "rootfs")


def _need_registry() -> None:
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry without authentication."""
    _need_registry()
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry with htpasswd Basic auth (user/pass) and relative upload Locations."""
    _need_registry()
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd is not installed (apt-get install apache2-utils)")
    reg = Registry(tmp_path_factory.mktemp("basic-registry"), auth="basic", relative_urls=True)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry serving https with a certificate from a test CA (``registry.ca_path``)."""
    _need_registry()
    reg = Registry(tmp_path_factory.mktemp("tls-registry"), tls=True)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("token-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer) -> Iterator[Registry]:
    """A registry trusting JWTs from ``token_server``."""
    _need_registry()
    reg = Registry(tmp_path_factory.mktemp("token-registry"), auth="token", token_server=token_server)
    yield reg
    reg.stop()


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the unauthenticated registry."""
    p = FaultProxy(registry.host)
    yield p
    p.stop()


@pytest.fixture
def basic_proxy(basic_registry: Registry) -> Iterator[FaultProxy]:
    p = FaultProxy(basic_registry.host)
    yield p
    p.stop()


@pytest.fixture
def authfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated auth file (and no credentials from the real home)."""
    path = tmp_path / "auth.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))
    (tmp_path / "registries.conf").write_text("")
    return path


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A server on 127.0.0.1 answering "served" (tests/http_fixtures.serve_served); its port."""
    from http_fixtures import serve_served

    with serve_served("127.0.0.1") as port:
        yield port
