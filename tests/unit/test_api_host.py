"""pybuild.host_architecture / platform_of / system_info: what `version`, `info` and the
--os/--arch/--variant flags print, as a library caller gets it."""

from __future__ import annotations

import json
import platform as host
from pathlib import Path

import pytest

import pybuild


def test_platform_of_fills_in_the_host_and_refuses_both_spellings() -> None:
    arch = pybuild.host_architecture()
    assert arch and "/" not in arch  # a GOARCH name, not uname's
    assert pybuild.platform_of(None, arch="arm64", variant="v8") == "linux/arm64/v8"
    assert pybuild.platform_of(None, os="linux") == f"linux/{arch}"
    assert pybuild.platform_of("linux/s390x") == "linux/s390x"
    assert pybuild.platform_of(None) is None
    with pytest.raises(pybuild.ConfigError, match="give --platform or --os/--arch/--variant, not both"):
        pybuild.platform_of("linux/arm64", arch="arm64")


def test_system_info_reports_host_and_store(tmp_path: Path) -> None:
    store = pybuild.Store(tmp_path / "root", storage_driver="vfs")
    info = pybuild.system_info(str(store.root), lambda: store)
    assert info["version"] == pybuild.__version__
    assert info["host"]["arch"] == pybuild.host_architecture()
    assert info["host"]["kernel"] == host.release()
    assert pybuild.host_architecture() in info["host"]["platforms"][0]
    assert info["host"]["DefaultNetwork"] in ("host", "private")
    assert info["store"]["GraphRoot"] == str(store.root) and "Error" not in info["store"]
    json.dumps(info)  # what `pybuild info` prints must serialise


def test_system_info_reports_a_store_that_cannot_open(tmp_path: Path) -> None:
    def broken() -> pybuild.Store:
        raise pybuild.StoreError("cannot open", where=str(tmp_path))

    info = pybuild.system_info("/nowhere", broken)
    assert info["store"] == {"GraphRoot": "/nowhere", "Error": f"{tmp_path}: cannot open"}
    assert info["host"]["os"] == "linux"
