"""registries.conf parsing and docker:// reference resolution (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybuild.errors import ConfigError
from pybuild.oci.registry import config
from pybuild.oci.registry.client import RegistryOptions
from pybuild.oci.registry.transport import resolve


def _conf(tmp_path: Path, text: str) -> RegistryOptions:
    p = tmp_path / "registries.conf"
    p.write_text(text)
    return RegistryOptions(registries_conf=str(p))


def test_short_name_goes_to_docker_hub_without_config(tmp_path: Path) -> None:
    ref, eps = resolve("busybox", _conf(tmp_path, ""), pull=True)
    assert str(ref) == "docker.io/library/busybox:latest"
    assert [(e.registry, e.repository) for e in eps] == [("docker.io", "library/busybox")]


def test_search_registries_tried_in_order_for_pull_first_for_push(tmp_path: Path) -> None:
    opts = _conf(tmp_path, 'unqualified-search-registries = ["quay.io", "docker.io"]\n')
    _, eps = resolve("app:1", opts, pull=True)
    assert [e.name for e in eps] == ["quay.io/app", "docker.io/library/app"]
    ref, eps = resolve("app:1", opts, pull=False)
    assert str(ref) == "quay.io/app:1" and [e.name for e in eps] == ["quay.io/app"]
    _, eps = resolve("example.com/x/app", opts, pull=True)
    assert [e.name for e in eps] == ["example.com/x/app"]


def test_location_rewrite_mirrors_and_insecure(tmp_path: Path) -> None:
    opts = _conf(tmp_path, """
[[registry]]
prefix = "example.com/team"
location = "internal.example:5000/mirror/team"
insecure = true

[[registry.mirror]]
location = "cache.example/team"

[[registry]]
location = "digest-only.example"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.example"
""")
    _, eps = resolve("example.com/team/app:1", opts, pull=True)
    assert [(e.name, e.insecure, e.mirror) for e in eps] == [
        ("cache.example/team/app", False, True),
        ("internal.example:5000/mirror/team/app", True, False)]
    _, eps = resolve("example.com/team/app:1", opts, pull=False)
    assert [e.name for e in eps] == ["internal.example:5000/mirror/team/app"]
    _, eps = resolve("digest-only.example/app:1", opts, pull=True)
    assert [e.name for e in eps] == ["digest-only.example/app"]
    _, eps = resolve("digest-only.example/app@sha256:" + "a" * 64, opts, pull=True)
    assert [e.name for e in eps] == ["m.example/app", "digest-only.example/app"]


def test_blocked_registry_is_refused(tmp_path: Path) -> None:
    opts = _conf(tmp_path, '[[registry]]\nlocation = "bad.example"\nblocked = true\n')
    with pytest.raises(ConfigError, match="blocked"):
        resolve("bad.example/app", opts, pull=True)


def test_env_overrides_and_missing_explicit_file_is_an_error(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "r.conf"
    p.write_text('unqualified-search-registries = ["r.example"]\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(p))
    assert config.load().unqualified_search_registries == ("r.example",)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "absent.conf"))
    with pytest.raises(ConfigError):
        config.load()


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    opts = _conf(tmp_path, "unqualified-search-registries = [\n")
    with pytest.raises(ConfigError) as e:
        config.load(opts.registries_conf)
    assert "registries.conf" in str(e.value)


@pytest.mark.parametrize("host,expected", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.8.9.1", True),
    ("[::1]:5000", True), ("10.0.0.1:5000", False), ("example.com", False), ("localhost.example.com", False)])
def test_loopback(host: str, expected: bool) -> None:
    assert config.is_loopback(host) is expected


def test_docker_hub_api_host() -> None:
    assert config.api_host("docker.io") == "registry-1.docker.io"
    assert config.api_host("quay.io") == "quay.io"


def test_dropins_replace_search_and_registries_by_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pybuild.oci.registry import config as cfg

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    system = tmp_path / "etc" / "registries.conf"
    system.parent.mkdir(parents=True)
    system.write_text('unqualified-search-registries = ["docker.io"]\n'
                      '[[registry]]\nlocation = "a.example"\ninsecure = false\n'
                      '[[registry]]\nlocation = "b.example"\n')
    dropins = tmp_path / "etc" / "registries.conf.d"
    dropins.mkdir()
    (dropins / "10-first.conf").write_text('[[registry]]\nlocation = "a.example"\ninsecure = true\n')
    (dropins / "20-second.conf").write_text('unqualified-search-registries = ["quay.io"]\n')
    (dropins / "ignored.txt").write_text("not toml at all [[[\n")
    monkeypatch.setattr(cfg, "SYSTEM_PATH", str(system))
    monkeypatch.setattr(cfg, "SYSTEM_DROPIN_DIR", str(dropins))
    loaded = cfg.load()
    assert loaded.unqualified_search_registries == ("quay.io",)
    assert loaded.is_insecure("a.example") and {e.prefix for e in loaded.registries} == {"a.example", "b.example"}
    # a file named on purpose stands alone
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(system))
    assert cfg.load().unqualified_search_registries == ("docker.io",)
