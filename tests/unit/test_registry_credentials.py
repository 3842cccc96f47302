"""Credential lookup (auth.json, Docker config, helpers) and atomic 0600 writes."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pybuild.errors import ConfigError
from pybuild.oci.registry import credentials as c


def _auth(user: str, pw: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    (tmp_path / "home").mkdir()
    return tmp_path


def test_missing_files_mean_anonymous(home: Path) -> None:
    assert c.lookup("quay.io/x/y") is None


def test_lookup_order_runtime_then_config_then_docker(home: Path) -> None:
    docker = home / "home" / ".docker" / "config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": _auth("hub", "h"),
                                            "r.example": _auth("docker", "d")}}))
    assert c.lookup("docker.io/library/busybox") == c.Credentials("hub", "h")
    assert c.lookup("r.example/app") == c.Credentials("docker", "d")
    cfg = home / "home" / ".config" / "containers" / "auth.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"auths": {"r.example": _auth("config", "c")}}))
    assert c.lookup("r.example/app") == c.Credentials("config", "c")
    rt = home / "run" / "containers" / "auth.json"
    rt.parent.mkdir(parents=True)
    rt.write_text(json.dumps({"auths": {"r.example": _auth("runtime", "r"),
                                        "r.example/team": _auth("team", "t")}}))
    assert c.lookup("r.example/app") == c.Credentials("runtime", "r")
    assert c.lookup("r.example/team/app") == c.Credentials("team", "t")  # most specific key wins


def test_env_auth_file_overrides_everything(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = home / "only.json"
    f.write_text(json.dumps({"auths": {"r.example": _auth("env", "e")}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(f))
    assert c.auth_files() == [str(f)]
    assert c.lookup("r.example") == c.Credentials("env", "e")
    assert c.lookup("r.example", creds="cli:pw") == c.Credentials("cli", "pw")


def test_primary_file_without_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert c.primary_auth_file() == f"/run/containers/{os.getuid()}/auth.json"


def test_credential_helper(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = home / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread host\nif [ "$host" = "h.example" ]; then\n'
                      'echo \'{"ServerURL":"h.example","Username":"helped","Secret":"s3"}\'\n'
                      'else echo "credentials not found in native keychain"; exit 1; fi\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    f = home / "a.json"
    f.write_text(json.dumps({"credHelpers": {"h.example": "fake"}, "credsStore": "fake"}))
    assert c.lookup("h.example/app", authfile=str(f)) == c.Credentials("helped", "s3")
    assert c.lookup("other.example/app", authfile=str(f)) is None


def test_store_is_atomic_0600_and_keeps_other_entries(home: Path) -> None:
    f = home / "dir" / "auth.json"
    f.parent.mkdir()
    f.write_text(json.dumps({"auths": {"keep.example": _auth("k", "k")}, "credHelpers": {"x": "y"}}))
    c.store("r.example", c.Credentials("u", "p"), authfile=str(f))
    data = json.loads(f.read_text())
    assert data["auths"]["keep.example"] == _auth("k", "k") and data["credHelpers"] == {"x": "y"}
    assert data["auths"]["r.example"] == _auth("u", "p")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert [p.name for p in f.parent.iterdir()] == ["auth.json"]  # no temp file left
    assert c.remove("r.example", authfile=str(f)) is True
    assert c.remove("r.example", authfile=str(f)) is False
    assert c.remove(None, authfile=str(f)) is True
    assert json.loads(f.read_text())["auths"] == {}


def test_bad_auth_file_is_a_config_error_without_secrets(home: Path) -> None:
    f = home / "bad.json"
    f.write_text('{"auths": {"r.example": {"auth": "%%%notbase64"}}, "x": "topsecret"')
    with pytest.raises(ConfigError) as e:
        c.lookup("r.example", authfile=str(f))
    assert str(f) in str(e.value) and "topsecret" not in str(e.value)


def test_credentials_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(c.Credentials("u", "hunter2"))
    with pytest.raises(ConfigError):
        c.parse_creds(":nouser")


def test_unreadable_default_location_is_no_file_but_a_named_one_is_an_error(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a plain user without $XDG_RUNTIME_DIR looks under root's 0700 /run/containers: EACCES there
    # must not stop a pull; a file named by --authfile or $REGISTRY_AUTH_FILE must be readable
    docker = home / "home" / ".docker" / "config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"r.example": _auth("docker", "d")}}))
    denied = str(home / "run" / "containers" / "auth.json")
    real_open = open

    def open_denying(path: str, *args: object, **kw: object) -> object:
        if str(path) == denied:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(c, "open", open_denying, raising=False)
    assert c.lookup("r.example/app") == c.Credentials("docker", "d")
    with pytest.raises(ConfigError, match="cannot read auth file: Permission denied"):
        c.lookup("r.example/app", authfile=denied)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", denied)
    with pytest.raises(ConfigError, match="Permission denied"):
        c.lookup("r.example/app")
