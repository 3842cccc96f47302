"""SPDX 2.3 and CycloneDX 1.5 documents of a synthesised image tree, validated by each
format's own library (spdx-tools, cyclonedx-python-lib), and reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from license_expression import get_spdx_licensing
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from pybuild.sbom import RootFS, catalog, cyclonedx, spdx
from pybuild.sbom.document import Subject
from pybuild.sbom.licenses import _EXCEPTIONS, _IDS, to_spdx
from tests.sbom_helpers import make_rootfs

pytestmark = pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="needs a Debian host's dpkg status")
SUBJECT = Subject("localhost/app:1", "sha256:" + "ab" * 32)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sbomdoc")
    make_rootfs(base / "root", base / "scratch", go=False)
    return base / "root"


def test_spdx_document_is_valid_for_spdx_tools(tree: Path, tmp_path: Path) -> None:
    root = RootFS([tree])
    found = catalog(root)
    out = tmp_path / "sbom.spdx.json"
    out.write_bytes(spdx.render(found, root, SUBJECT, epoch=1700000000))
    doc = parse_file(str(out))
    assert validate_full_spdx_document(doc) == []
    purls = {ref.locator for p in doc.packages for ref in p.external_references}
    assert purls == {p.purl for p in found.packages}
    assert doc.creation_info.created.year == 2023
    files = {f.name: f for f in doc.files}
    zlib = next(p for p in found.packages if p.name == "zlib1g")
    some = next(f for f in zlib.files if (tree / f.lstrip("/")).is_file() and not (tree / f.lstrip("/")).is_symlink())
    import hashlib

    want = hashlib.sha256((tree / some.lstrip("/")).read_bytes()).hexdigest()
    assert [c.value for c in files["." + some].checksums if c.algorithm.name == "SHA256"] == [want]


def test_cyclonedx_document_is_valid_for_cyclonedx_lib(tree: Path) -> None:
    root = RootFS([tree])
    found = catalog(root)
    data = cyclonedx.render(found, root, SUBJECT, epoch=1700000000)
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(data.decode()) is None
    doc = json.loads(data)
    assert {c["purl"] for c in doc["components"]} == {p.purl for p in found.packages}
    alpha = next(c for c in doc["components"] if c["name"] == "tinyalpha")
    assert alpha["licenses"] == [{"license": {"id": "MIT"}}]
    assert any(o["location"].endswith("tinyalpha/__init__.py") for o in alpha["evidence"]["occurrences"])


def test_documents_are_byte_identical_for_the_same_tree_elsewhere(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    docs = {}
    for writer in (spdx, cyclonedx):
        one = writer.render(catalog(RootFS([tree])), RootFS([tree]), SUBJECT, epoch=0)
        two = writer.render(catalog(RootFS([copy])), RootFS([copy]), SUBJECT, epoch=0)
        assert one == two
        docs[writer] = json.loads(one)
    # names are derived from the content: another image gets another namespace and serial number
    other = Subject("x", "sha256:" + "cd" * 32)
    spdx_other = json.loads(spdx.render(catalog(RootFS([tree])), RootFS([tree]), other, epoch=0))
    cdx_other = json.loads(cyclonedx.render(catalog(RootFS([tree])), RootFS([tree]), other, epoch=0))
    assert spdx_other["documentNamespace"] != docs[spdx]["documentNamespace"]
    assert cdx_other["serialNumber"] != docs[cyclonedx]["serialNumber"]


def test_licence_table_holds_only_listed_spdx_identifiers() -> None:
    licensing = get_spdx_licensing()
    for lic in _IDS:
        assert licensing.validate(lic).errors == [], lic
    for exc in _EXCEPTIONS:
        assert licensing.validate(f"MIT WITH {exc}").errors == [], exc


@pytest.mark.parametrize(("declared", "want"), [
    ("GPL-2+", "GPL-2.0-or-later"), ("BSD-3-clause or GPL-2", "BSD-3-Clause OR GPL-2.0-only"),
    ("MIT License", "MIT"), ("Expat", "MIT"), ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
    ("(MIT OR Apache-2.0) AND Zlib", "(MIT OR Apache-2.0) AND Zlib"), ("Some Custom Licence", None),
    ("MIT OR", None), ("GPL-2+ with Classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0")])
def test_declared_licences_map_to_spdx_or_not_at_all(declared: str, want: str | None) -> None:
    assert to_spdx(declared) == want
    if want:
        assert get_spdx_licensing().validate(want).errors == []
