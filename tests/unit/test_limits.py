"""pybuild.conf bounds (registry time/size, decompression bombs): parsing, the environment,
the defaults RegistryOptions takes, and the bounded decompressing reader."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from pybuild.errors import ConfigError, UnsafeContentError
from pybuild.oci import limits
from pybuild.oci.compress import decompressing_reader
from pybuild.oci.limits import DecompressionLimits, parse_duration, parse_size
from pybuild.oci.registry.client import RegistryOptions


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [k for k in __import__("os").environ if k.startswith("PYBUILD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(limits, "SYSTEM_PATH", str(tmp_path / "none.conf"))


def test_durations_and_sizes_read_as_containers_conf_writes_them() -> None:
    assert parse_duration("30s", "k") == 30
    assert parse_duration("500ms", "k") == 0.5
    assert parse_duration("2m", "k") == 120
    assert parse_duration(5, "k") == 5
    assert parse_size("64GiB", "k") == 64 << 30
    assert parse_size("1MB", "k") == 1_000_000
    assert parse_size("100KiB", "k") == 100 << 10
    assert parse_size(4096, "k") == 4096


def test_a_bad_value_is_one_line_naming_file_table_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "pybuild.conf"
    conf.write_text('[registry]\nidle_timeout = "soon"\n')
    monkeypatch.setenv("PYBUILD_CONF", str(conf))
    with pytest.raises(ConfigError) as e:
        RegistryOptions()
    assert str(e.value) == f"{conf}: [registry] idle_timeout: 'soon' is not a duration (e.g. \"30s\", \"500ms\", \"2m\")"
    conf.write_text('[registry]\nidle_timeout = "0s"\n')
    with pytest.raises(ConfigError, match="must be more than zero"):
        RegistryOptions()
    conf.write_text("[registry]\nidle_timout = 3\n")
    with pytest.raises(ConfigError, match="unknown key 'idle_timout' in \\[registry\\]"):
        RegistryOptions()
    conf.write_text("[network]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown table \\[network\\]"):
        RegistryOptions()


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBUILD_CONF", str(tmp_path / "nope.conf"))
    with pytest.raises(ConfigError, match="nope.conf: configuration file not found"):
        limits.current()


def test_options_default_to_the_file_and_the_environment_wins(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert RegistryOptions().idle_timeout == 30.0
    assert RegistryOptions().max_blob_size == 64 << 30
    conf = tmp_path / "pybuild.conf"
    conf.write_text('[registry]\nidle_timeout = "5s"\nconnect_timeout = "2s"\nblob_timeout = "10m"\n'
                    'max_blob_size = "1GiB"\nretry = 1\nretry_delay = "250ms"\n')
    monkeypatch.setenv("PYBUILD_CONF", str(conf))
    opts = RegistryOptions()
    assert (opts.idle_timeout, opts.connect_timeout, opts.blob_timeout, opts.max_blob_size) == (5, 2, 600, 1 << 30)
    assert (opts.retry.attempts, opts.retry.base_delay, opts.retry.max_delay) == (2, 0.25, 0.25)
    many = opts.retry.with_retries(10, 20.0)  # buildah's --retry 10 --retry-delay 20s: all 10 fit the budget
    assert (many.attempts, many.base_delay) == (11, 20.0) and many.max_total >= 10 * 20.0
    timeout = opts.http_timeout()
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2, 5, 5, 5)
    monkeypatch.setenv("PYBUILD_REGISTRY_IDLE_TIMEOUT", "1s")
    assert RegistryOptions().idle_timeout == 1
    assert RegistryOptions(idle_timeout=9).idle_timeout == 9  # the library's own value wins
    monkeypatch.setenv("PYBUILD_LAYERS_MAX_RATIO", "0.5")
    with pytest.raises(ConfigError, match="PYBUILD_LAYERS_MAX_RATIO: '0.5' must be a number of at least 1"):
        limits.current()


def test_user_file_is_read_when_no_variable_names_one(tmp_path: Path) -> None:
    user = tmp_path / ".config" / "containers"
    user.mkdir(parents=True)
    (user / "pybuild.conf").write_text('[layers]\nmax_ratio = 20\nratio_floor = "1MiB"\n')
    assert limits.current().layers == DecompressionLimits(max_ratio=20, ratio_floor=1 << 20)
    assert limits.current().source == str(user / "pybuild.conf")


# --- the bounded decompressing reader -----------------------------------------------------------


def _drain(stream: io.BufferedIOBase | object) -> int:
    n = 0
    while chunk := stream.read(1 << 20):  # type: ignore[attr-defined]
        n += len(chunk)
    return n


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "xz"])
def test_a_bomb_stops_at_the_ratio_once_past_the_floor(fmt: str) -> None:
    plain = bytes(16 << 20)
    if fmt == "gzip":
        blob = gzip.compress(plain, mtime=0)
    elif fmt == "zstd":
        import zstandard

        blob = zstandard.ZstdCompressor().compress(plain)
    else:
        import lzma

        blob = lzma.compress(plain)
    bounds = DecompressionLimits(max_size=1 << 40, max_ratio=10, ratio_floor=1 << 20)
    with pytest.raises(UnsafeContentError) as e:
        _drain(decompressing_reader(io.BytesIO(blob), limits=bounds, where="layer sha256:x"))
    msg = str(e.value)
    assert msg.startswith("layer sha256:x: decompressed data is over 10 times its compressed size")
    assert "max_ratio of [layers]" in msg and "\n" not in msg
    # the same stream below the floor, or within the ratio, is read whole
    assert _drain(decompressing_reader(io.BytesIO(blob), limits=DecompressionLimits(ratio_floor=32 << 20))) \
        == len(plain)
    assert _drain(decompressing_reader(io.BytesIO(blob), limits=DecompressionLimits(max_ratio=1e6,
                                                                                    ratio_floor=1))) == len(plain)


def test_a_bomb_stops_at_the_size_and_the_config_file_sets_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blob = gzip.compress(bytes(8 << 20), mtime=0)
    conf = tmp_path / "pybuild.conf"
    conf.write_text('[layers]\nmax_size = "4MiB"\n')
    monkeypatch.setenv("PYBUILD_CONF", str(conf))
    with pytest.raises(UnsafeContentError, match=r"exceeds the limit of 4.0 MiB \(max_size of \[layers\]\)"):
        _drain(decompressing_reader(io.BytesIO(blob)))


def test_an_ordinary_layer_is_untouched_by_the_bounds() -> None:
    import os

    plain = os.urandom(3 << 20) + bytes(1 << 20)
    blob = gzip.compress(plain, mtime=0) + gzip.compress(b"second member", mtime=0)
    assert decompressing_reader(io.BytesIO(blob)).read() == plain + b"second member"
