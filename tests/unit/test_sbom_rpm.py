"""RPM's sqlite rpmdb, made by rpm itself: rpmbuild makes a package, rpm installs it into a
tree of the test's own, and the cataloger lists it without writing into that tree."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pybuild.sbom import RootFS, catalog
from pybuild.sbom.rpm import parse_header
from tests.conftest import need_tool

SPEC = """Name: tinyrpm
Version: 1.2
Release: 3
Epoch: 2
Summary: a test package
License: MIT or Apache-2.0
Vendor: Test Vendor
BuildArch: noarch

%description
a package for pybuild's SBOM tests

%install
mkdir -p %{buildroot}/usr/share/tinyrpm
echo hi > %{buildroot}/usr/share/tinyrpm/hello.txt
echo there > %{buildroot}/usr/share/tinyrpm/there.txt

%files
/usr/share/tinyrpm/hello.txt
/usr/share/tinyrpm/there.txt
"""


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def rpm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("rpmbuild")
    rpm = need_tool("rpm")
    work = tmp_path_factory.mktemp("rpm")
    (work / "tiny.spec").write_text(SPEC)
    subprocess.run(["rpmbuild", "--quiet", "--define", f"_topdir {work / 'top'}", "-bb", str(work / "tiny.spec")],
                   check=True, capture_output=True, timeout=120)
    [package] = (work / "top").rglob("*.rpm")
    root = work / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=fedora\nVERSION_ID="39"\n')
    subprocess.run([rpm, "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"], check=True, timeout=60)
    subprocess.run([rpm, "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--ignorearch",
                    str(package)], check=True, capture_output=True, timeout=60)
    return root


@pytest.mark.root  # rpm --root chroots
def test_rpm_sqlite_database_lists_the_installed_package(rpm_root: Path) -> None:
    before = _tree_digest(rpm_root)
    found = catalog(RootFS([rpm_root]))
    assert _tree_digest(rpm_root) == before  # the database was read from a copy: nothing written
    [pkg] = [p for p in found.packages if p.ecosystem == "rpm"]
    assert (pkg.name, pkg.version, pkg.licenses, pkg.supplier) == ("tinyrpm", "1.2-3", ("MIT or Apache-2.0",),
                                                                   "Test Vendor")
    assert pkg.purl == ("pkg:rpm/fedora/tinyrpm@1.2-3?arch=noarch&distro=fedora-39&epoch=2"
                        "&upstream=tinyrpm-1.2-3.src.rpm")
    assert pkg.files == ("/usr/share/tinyrpm/hello.txt", "/usr/share/tinyrpm/there.txt")
    assert found.unread == {}


def test_a_broken_header_is_refused_not_misread() -> None:
    with pytest.raises(ValueError):
        parse_header(b"\0\0\0\x05\0\0\0\x10")  # five entries promised, none there
    with pytest.raises(ValueError):
        parse_header(b"\0\0\0\x01\0\0\0\x01" + (1000).to_bytes(4, "big") + (6).to_bytes(4, "big")
                     + bytes(8) + b"x")  # a string with no end
    assert parse_header(bytes(8)) == {}
