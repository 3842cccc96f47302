"""The library face of issue 17: pybuild.build(sbom=, provenance=), pybuild.sbom_of and
pybuild.attestations, as a user's code calls them (a vfs store: no root, no mounts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pybuild
from tests.sbom_helpers import make_rootfs

pytestmark = pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="needs a Debian host's dpkg status")


def test_library_build_with_attestations_then_sbom_of_the_image(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    make_rootfs(ctx / "rootfs", tmp_path / "scratch", go=False)
    store = pybuild.Store(tmp_path / "store", storage_driver="vfs")
    pybuild.build(ctx, containerfile_text="FROM scratch\nCOPY rootfs/ /\n", tags=["lib"], store=store,
                  timestamp=0, sbom="cyclonedx", provenance="max")
    listed = pybuild.attestations("lib", store=store)
    assert [a["predicateType"] for a in listed] == ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"]
    recorded = {c["purl"] for c in listed[0]["predicate"]["components"]}
    made = json.loads(pybuild.sbom_of("lib", store=store, format="cyclonedx-json", epoch=0))
    assert {c["purl"] for c in made["components"]} == recorded
    assert "pkg:pypi/tinyalpha@1.0" in recorded
    assert listed[1]["predicate"]["runDetails"]["metadata"]["startedOn"] == "1970-01-01T00:00:00Z"
    with pytest.raises(pybuild.UnsupportedError, match="runs no scanner image"):
        pybuild.build(ctx, containerfile_text="FROM scratch\n", store=store, sbom="syft")
    from pybuild.oci.platform_host import host_platform

    here = host_platform()
    other = "linux/s390x" if here.architecture != "s390x" else "linux/ppc64le"
    assert pybuild.sbom_of("lib", store=store, platform=f"linux/{here.architecture}", epoch=0)  # its own
    with pytest.raises(pybuild.ImageNotFound, match=f"not {other}"):
        pybuild.sbom_of("lib", store=store, platform=other)
    with pytest.raises(pybuild.ConfigError, match="unknown SBOM format"):
        pybuild.sbom_of("lib", store=store, format="spdx-tag-value")
