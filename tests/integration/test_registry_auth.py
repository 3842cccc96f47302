"""Authentication against real registries: htpasswd Basic, token (JWT) auth, login/logout."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from registry_fixtures import PASSWORD, USER, Fault, FaultProxy, Registry, TokenServer, make_image

from pybuild.errors import AuthError
from pybuild.oci.registry.client import RegistryOptions, RetryPolicy
from pybuild.oci.registry.transport import open_destination, open_source
from pybuild.oci.spec import parse_manifest

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=1.0, max_total=10.0)


def _push(host: str, name: str, opts: RegistryOptions, text: str = "auth") -> bytes:
    image = make_image(text, layers=2)
    with open_destination(f"{host}/{name}", opts) as dst:
        doc = parse_manifest(image.manifest)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            if not dst.has_blob(desc):
                dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(image.manifest, image.media_type)
    return image.manifest


def _pull(host: str, name: str, opts: RegistryOptions) -> bytes:
    with open_source(f"{host}/{name}", opts) as src:
        raw, mt = src.get_manifest()
        for desc in [parse_manifest(raw, mt).config, *parse_manifest(raw, mt).layers]:  # type: ignore[union-attr]
            with src.get_blob(desc) as f:
                f.read()
        return raw


def _write_auth(path: Path, host: str, user: str, password: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))


def test_basic_auth_with_credentials_from_auth_file(basic_registry: Registry, authfile: Path) -> None:
    _write_auth(authfile, basic_registry.host, USER, PASSWORD)
    opts = RegistryOptions(retry=FAST)
    pushed = _push(basic_registry.host, "basic/app:1", opts)
    assert _pull(basic_registry.host, "basic/app:1", opts) == pushed


def test_basic_auth_with_creds_option(basic_registry: Registry, authfile: Path) -> None:
    opts = RegistryOptions(retry=FAST, creds=f"{USER}:{PASSWORD}")
    pushed = _push(basic_registry.host, "basic/creds:1", opts, "creds")
    assert _pull(basic_registry.host, "basic/creds:1", opts) == pushed


def test_basic_auth_wrong_password_is_one_line_auth_error(basic_registry: Registry, authfile: Path) -> None:
    opts = RegistryOptions(retry=FAST, creds=f"{USER}:wrong-secret")
    with pytest.raises(AuthError) as e, open_source(f"{basic_registry.host}/basic/app:1", opts) as src:
        src.get_manifest()
    msg = str(e.value)
    assert "\n" not in msg and "wrong-secret" not in msg
    assert f"{basic_registry.host}/basic/app:1" in msg


def test_anonymous_pull_from_basic_registry_is_refused(basic_registry: Registry, authfile: Path) -> None:
    with pytest.raises(AuthError), open_source(f"{basic_registry.host}/basic/app:1",
                                               RegistryOptions(retry=FAST)) as src:
        src.get_manifest()


def test_redirect_to_another_host_drops_credentials(basic_registry: Registry, basic_proxy: FaultProxy,
                                                    authfile: Path) -> None:
    opts = RegistryOptions(retry=FAST, creds=f"{USER}:{PASSWORD}")
    image = make_image("redirected", layer_size=3000)
    with open_destination(f"{basic_proxy.host}/redir/app:1", opts) as dst:
        doc = parse_manifest(image.manifest)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(image.manifest, image.media_type)
    layer = parse_manifest(image.manifest).layers[0]  # type: ignore[union-attr]
    basic_proxy.inject(Fault("GET", f"/blobs/{layer.digest}", "redirect"))
    basic_proxy.log.clear()
    with open_source(f"{basic_proxy.host}/redir/app:1", opts) as src:
        src.get_manifest()
        with src.get_blob(layer) as f:
            assert f.read() == image.blobs[layer.digest]
    asked = [h for m, p, h in basic_proxy.log if m == "GET" and str(layer.digest) in p]
    assert asked and "authorization" in asked[-1]  # the registry itself got the credentials
    assert basic_proxy.blob_host.seen and all("authorization" not in h for h in basic_proxy.blob_host.seen)


def test_token_auth_push_pull_and_token_cache(token_registry: Registry, token_server: TokenServer,
                                              authfile: Path) -> None:
    opts = RegistryOptions(retry=FAST, creds=f"{USER}:{PASSWORD}")
    before = token_server.hits
    pushed = _push(token_registry.host, "tok/app:1", opts)
    after_push = token_server.hits
    assert after_push - before == 1  # one token for repository:tok/app:pull,push, reused for 6 requests
    assert token_server.requests[-1]["scope"] == ["repository:tok/app:pull,push"]
    assert _pull(token_registry.host, "tok/app:1", opts) == pushed
    assert token_server.hits - after_push == 1
    assert token_server.requests[-1]["scope"] == ["repository:tok/app:pull"]


def test_token_auth_wrong_password(token_registry: Registry, authfile: Path) -> None:
    opts = RegistryOptions(retry=FAST, creds=f"{USER}:nope")
    with pytest.raises(AuthError) as e, open_source(f"{token_registry.host}/tok/app:1", opts) as src:
        src.get_manifest()
    assert "nope" not in str(e.value) and "\n" not in str(e.value)


def test_token_auth_anonymous_is_denied(token_registry: Registry, authfile: Path) -> None:
    with pytest.raises(AuthError), open_source(f"{token_registry.host}/tok/app:1",
                                               RegistryOptions(retry=FAST)) as src:
        src.get_manifest()


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pybuild", *args], capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_login_with_wrong_credentials_writes_nothing(basic_registry: Registry, authfile: Path) -> None:
    authfile.write_text('{"auths": {}}\n')
    before = authfile.read_bytes()
    r = _cli("login", "--username", USER, "--password", "bad-pass", "--authfile", str(authfile),
             basic_registry.host)
    assert r.returncode != 0
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "bad-pass" not in err and basic_registry.host in err
    assert authfile.read_bytes() == before


def test_login_get_login_logout(basic_registry: Registry, authfile: Path, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "auth.json"
    r = _cli("login", "--username", USER, "--password-stdin", "--authfile", str(target), basic_registry.host,
             stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    entry = json.loads(target.read_text())["auths"][basic_registry.host]
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{PASSWORD}"
    r = _cli("login", "--get-login", "--authfile", str(target), basic_registry.host)
    assert r.returncode == 0 and r.stdout.strip() == USER
    # the stored credentials are used for pulls
    opts = RegistryOptions(retry=FAST, authfile=str(target))
    _push(basic_registry.host, "login/app:1", opts, "login")
    r = _cli("logout", "--authfile", str(target), basic_registry.host)
    assert r.returncode == 0, r.stderr
    assert basic_registry.host not in json.loads(target.read_text())["auths"]
    r = _cli("logout", "--authfile", str(target), basic_registry.host)
    assert r.returncode != 0 and "not logged in" in r.stderr


def test_login_token_registry(token_registry: Registry, authfile: Path) -> None:
    r = _cli("login", "-u", USER, "-p", PASSWORD, token_registry.host)
    assert r.returncode == 0, r.stderr
    assert token_registry.host in json.loads(authfile.read_text())["auths"]
    r = _cli("login", "-u", USER, "-p", "wrong", "--authfile", str(authfile.parent / "other.json"),
             token_registry.host)
    assert r.returncode != 0 and not (authfile.parent / "other.json").exists()


def test_parallel_blob_fetches_share_one_token(token_registry: Registry, token_server: TokenServer,
                                               authfile: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    opts = RegistryOptions(retry=FAST, creds=f"{USER}:{PASSWORD}")
    image = make_image("parallel", layers=4, layer_size=50_000)
    with open_destination(f"{token_registry.host}/tok/par:1", opts) as dst:
        doc = parse_manifest(image.manifest)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(image.manifest, image.media_type)
    before = token_server.hits
    with open_source(f"{token_registry.host}/tok/par:1", opts) as src:
        doc = parse_manifest(*src.get_manifest())

        def fetch(desc: object) -> bytes:
            with src.get_blob(desc) as f:  # type: ignore[arg-type]
                return f.read()

        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(fetch, doc.layers))  # type: ignore[union-attr]
    assert got == [image.blobs[d.digest] for d in doc.layers]  # type: ignore[union-attr]
    assert token_server.hits - before == 1
