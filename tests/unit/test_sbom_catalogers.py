"""The catalogers over a synthesised image tree in real formats (tests/sbom_helpers.py):
what a user of `pybuild sbom` sees listed, checked against what went in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pybuild.sbom import RootFS, catalog
from pybuild.sbom.golang import MAGIC, parse_buildinfo
from tests.sbom_helpers import DPKG_PACKAGES, GO_DEP, GO_MODULE, WHEELS, go_binary, make_rootfs

pytestmark = pytest.mark.skipif(not Path("/var/lib/dpkg/status").is_file(), reason="needs a Debian host's dpkg status")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    base = tmp_path_factory.mktemp("sbom")
    made = make_rootfs(base / "root", base / "scratch", go=False)  # Go has a test of its own
    return base / "root", made


def by(eco: str, root: Path) -> dict[str, object]:
    return {p.name: p for p in catalog(RootFS([root])).packages if p.ecosystem == eco}


def test_dpkg_lists_the_installed_stanzas_with_versions_purls_files(tree: tuple[Path, dict[str, object]]) -> None:
    root, made = tree
    stanzas: dict[str, str] = made["dpkg"]  # type: ignore[assignment]
    assert len(stanzas) >= 2, f"the host lacks {DPKG_PACKAGES}"
    found = by("deb", root)
    assert set(found) == set(stanzas)  # the deinstalled gone-pkg stanza is not a package
    os_release = dict(line.split("=", 1) for line in (root / "etc/os-release").read_text().splitlines() if "=" in line)
    distro = f"{os_release['ID'].strip(chr(34))}-{os_release['VERSION_ID'].strip(chr(34))}"
    for name, stanza in stanzas.items():
        pkg = found[name]
        version = re.search(r"^Version: (.+)$", stanza, re.M).group(1)  # type: ignore[union-attr]
        arch = re.search(r"^Architecture: (.+)$", stanza, re.M).group(1)  # type: ignore[union-attr]
        assert pkg.version == version  # type: ignore[attr-defined]
        assert pkg.purl.startswith(f"pkg:deb/debian/{name}@")  # type: ignore[attr-defined]
        assert f"arch={arch}" in pkg.purl and f"distro={distro}" in pkg.purl  # type: ignore[attr-defined]
        assert pkg.files, name  # type: ignore[attr-defined]
        for path in pkg.files:  # type: ignore[attr-defined]
            assert os.path.exists(root / path.lstrip("/")), path
    # the copyright file's License: fields are the declared licences
    assert "Zlib" in found["zlib1g"].licenses  # type: ignore[attr-defined]


def test_python_distributions_from_dist_info(tree: tuple[Path, dict[str, object]]) -> None:
    root, _ = tree
    found = by("pypi", root)
    assert set(found) == {w[0] for w in WHEELS}
    alpha, beta = found["tinyalpha"], found["tiny_beta"]
    assert (alpha.version, alpha.licenses, alpha.purl) == ("1.0", ("MIT",), "pkg:pypi/tinyalpha@1.0")  # type: ignore[attr-defined]
    assert beta.purl == "pkg:pypi/tiny-beta@2.1.0"  # type: ignore[attr-defined]  # PEP 503 normal form
    assert beta.licenses == ("Apache-2.0 OR MIT",)  # type: ignore[attr-defined]
    assert any(f.endswith("site-packages/tinyalpha/__init__.py") for f in alpha.files)  # type: ignore[attr-defined]
    assert all(f.startswith("/opt/venv/") for f in alpha.files)  # type: ignore[attr-defined]


def test_npm_packages_nested_and_scoped_not_the_app(tree: tuple[Path, dict[str, object]]) -> None:
    root, _ = tree
    found = by("npm", root)
    assert set(found) == {"left-pad", "@acme/widget", "tiny"}
    assert found["@acme/widget"].purl == "pkg:npm/%40acme/widget@0.2.0"  # type: ignore[attr-defined]
    assert found["@acme/widget"].licenses == ("MIT",)  # type: ignore[attr-defined]
    assert found["left-pad"].files == ("/app/node_modules/left-pad/index.js",  # type: ignore[attr-defined]
                                       "/app/node_modules/left-pad/package.json")
    assert not [f for f in found["@acme/widget"].files if "/tiny/" in f]  # type: ignore[attr-defined]


def test_go_binary_build_info(tmp_path: Path) -> None:
    binary = go_binary(tmp_path / "go")
    if binary is None:
        pytest.skip("go is not installed (apt-get install golang-go)")
    root = tmp_path / "root"
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(binary, root / "usr/local/bin/hello")
    found = {p.name: p for p in catalog(RootFS([root])).packages if p.ecosystem == "golang"}
    assert found[GO_MODULE].version == "(devel)"
    assert found[GO_DEP[0]].version == GO_DEP[1]
    assert found[GO_DEP[0]].purl == f"pkg:golang/example.com/greet@{GO_DEP[1]}"
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    assert found["stdlib"].version == go_version.strip().removeprefix("go")
    assert found[GO_MODULE].files == ("/usr/local/bin/hello",)


def _section(version: str, modinfo: str, flags: int = 2) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([n & 0x7F | 0x80])
            n >>= 7
        return out + bytes([n])

    framed = b"0" * 16 + modinfo.encode() + b"\n" + b"1" * 16
    head = MAGIC + bytes([8, flags]) + b"\0" * 16
    return head + varint(len(version)) + version.encode() + varint(len(framed)) + framed


def test_buildinfo_parser_reads_deps_and_module_replacements() -> None:
    info = parse_buildinfo(_section("go1.21.0", "path\tex.com/x\nmod\tex.com/x\tv1.0.0\th1:a\n"
                                    "dep\tex.com/a\tv0.1.0\th1:b\ndep\tex.com/b\tv0.2.0\t\n=>\tex.com/c\tv0.3.0\th1:c\n"
                                    "build\tGOOS=linux"))
    assert info is not None
    assert info.go_version == "go1.21.0" and info.path == "ex.com/x" and info.main == ("ex.com/x", "v1.0.0", "h1:a")
    assert info.deps == [("ex.com/a", "v0.1.0", "h1:b"), ("ex.com/c", "v0.3.0", "h1:c")]
    assert info.settings == {"GOOS": "linux"}
    assert parse_buildinfo(_section("go1.17", "", flags=0)) is None  # pointers: not read, nothing invented


def test_apk_installed_db(tmp_path: Path) -> None:
    db = tmp_path / "lib/apk/db"
    db.mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/alpine-release").write_text("3.18.4\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/busybox").write_bytes(b"x")
    (db / "installed").write_text(
        "C:Q1abc=\nP:busybox\nV:1.36.1-r2\nA:x86_64\nS:500\nI:900\nT:Size optimized toolbox\nU:https://busybox.net/\n"
        "L:GPL-2.0-only\no:busybox\nm:Sören Tempel <soeren+alpine@soeren-tempel.net>\nF:bin\nR:busybox\n"
        "Z:Q1def=\n\nC:Q1ghi=\nP:ssl_client\nV:1.36.1-r2\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n")
    found = {p.name: p for p in catalog(RootFS([tmp_path])).packages}
    assert found["busybox"].purl == "pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=alpine-3.18.4"
    assert found["busybox"].files == ("/bin/busybox",) and found["busybox"].licenses == ("GPL-2.0-only",)
    assert "upstream=busybox" in found["ssl_client"].purl


def test_berkeley_db_rpmdb_is_reported_unread(tmp_path: Path) -> None:
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/Packages").write_bytes(b"\0" * 64)
    assert catalog(RootFS([tmp_path])).unread == {"/var/lib/rpm/Packages": "rpm (Berkeley DB)"}


def test_links_resolve_inside_the_image_never_the_host(tmp_path: Path) -> None:
    """A status file linking to an absolute path reads the image's file there, not the host's."""
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    os.symlink("/var/lib/dpkg/status", tmp_path / "var/lib/dpkg/status.real")
    os.symlink("../../../../../../var/lib/dpkg/status.real", tmp_path / "var/lib/dpkg/loop")
    (tmp_path / "var/lib/dpkg/status").symlink_to("/var/lib/dpkg/loop")  # a cycle inside the image
    assert catalog(RootFS([tmp_path])).packages == []
    (tmp_path / "var/lib/dpkg/status").unlink()
    if not Path("/var/lib/dpkg/status-old").is_file():
        pytest.skip("the host has no /var/lib/dpkg/status-old to point at")
    (tmp_path / "var/lib/dpkg/status").symlink_to("/var/lib/dpkg/status-old")
    assert catalog(RootFS([tmp_path])).packages == []  # the host's status-old is full; the image has none


@pytest.mark.root
def test_upper_layers_whiteouts_and_opaque_directories_hide_lower_packages(tmp_path: Path) -> None:
    """Layers in the store's overlay form: a whiteout (0/0 char device) removes a package's
    dist-info, an opaque directory hides a lower node_modules."""
    low, up = tmp_path / "low", tmp_path / "up"
    for name in ("a", "b"):
        info = low / f"site/{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: {name}\nVersion: 1.0\n")
    (low / "node_modules/x").mkdir(parents=True)
    (low / "node_modules/x/package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (up / "site").mkdir(parents=True)
    os.mknod(up / "site/a-1.0.dist-info", 0o600 | 0o020000, os.makedev(0, 0))
    (up / "node_modules").mkdir()
    os.setxattr(up / "node_modules", "trusted.overlay.opaque", b"y")
    assert {p.name for p in catalog(RootFS([low])).packages} == {"a", "b", "x"}
    assert {p.name for p in catalog(RootFS([low, up])).packages} == {"b"}


def test_same_tree_anywhere_same_catalog(tree: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    root, _ = tree
    copy = tmp_path / "elsewhere"
    shutil.copytree(root, copy, symlinks=True)
    assert catalog(RootFS([root])) == catalog(RootFS([copy]))


def test_damaged_databases_list_what_they_can_and_never_fail(tmp_path: Path) -> None:
    """Junk where each cataloger looks: an ELF header promising 65535 section headers of 65535
    bytes, a RECORD with a NUL, a status file of binary noise, package.json that is a list."""
    (tmp_path / "bin").mkdir()
    elf = bytearray(b"\x7fELF\x02\x01" + bytes(58))
    elf[0x28:0x30] = (64).to_bytes(8, "little")
    elf[0x3A:0x40] = b"\xff\xff\xff\xff\x01\x00"
    (tmp_path / "bin/fake").write_bytes(bytes(elf) + bytes(64))
    (tmp_path / "bin/fake").chmod(0o755)
    info = tmp_path / "site/broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Name: broken\nVersion: 1.0\n")
    (info / "RECORD").write_bytes(b"broken/__init__.py,,\x00\n")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_bytes(os.urandom(4096))
    (tmp_path / "node_modules/x").mkdir(parents=True)
    (tmp_path / "node_modules/x/package.json").write_text("[1, 2]")
    found = catalog(RootFS([tmp_path]))
    assert [(p.name, p.files) for p in found.packages] == [("broken", ())]
