"""pybuild.sbom_of as `pybuild sbom` uses it: dated by $SOURCE_DATE_EPOCH, written to a file,
and a store opened only for a store image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_fixtures import make_image, write_oci_layout

import pybuild


@pytest.fixture
def layout(tmp_path: Path) -> str:
    write_oci_layout(tmp_path / "layout", {"a": make_image("a")})
    return f"oci:{tmp_path / 'layout'}:a"


def _opener_never_called() -> pybuild.Store:
    raise AssertionError("a transport image needs no store")


def test_source_date_epoch_dates_the_document(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    doc = json.loads(pybuild.sbom_of(layout, store=_opener_never_called))
    assert doc["creationInfo"]["created"] == "1970-01-02T00:00:00Z"
    assert json.loads(pybuild.sbom_of(layout, epoch=0))["creationInfo"]["created"] == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("value, message", [("soon", "SOURCE_DATE_EPOCH='soon': not a number of seconds"),
                                            ("-1", "SOURCE_DATE_EPOCH='-1': negative")])
def test_a_bad_source_date_epoch_is_one_line(layout: str, monkeypatch: pytest.MonkeyPatch, value: str,
                                             message: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(pybuild.ConfigError, match=message):
        pybuild.sbom_of(layout)


def test_output_gets_the_same_bytes(layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    data = pybuild.sbom_of(layout, format="cyclonedx-json", epoch=5, output=tmp_path / "bom.json")
    assert (tmp_path / "bom.json").read_bytes() == data and json.loads(data)["bomFormat"] == "CycloneDX"


def test_a_store_image_opens_the_store_the_function_gives(tmp_path: Path) -> None:
    opened: list[pybuild.Store] = []

    def opener() -> pybuild.Store:
        opened.append(pybuild.Store(tmp_path / "root", storage_driver="vfs"))
        return opened[-1]

    with pytest.raises(pybuild.ImageNotFound):
        pybuild.sbom_of("localhost/nothing", store=opener)
    assert len(opened) == 1
