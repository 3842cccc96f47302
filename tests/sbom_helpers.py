"""Small image root filesystems in real formats, for the SBOM tests (issue 17).

A debootstrapped Debian takes minutes, so the tree is synthesised from real parts: stanzas
copied verbatim from this host's /var/lib/dpkg/status with their info/*.list file lists and
the files they list, a venv with two wheels pip installs offline (the wheels are built here,
no index is asked), an npm node_modules, and a Go binary built here when `go` is installed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

DPKG_PACKAGES = ("hostname", "zlib1g", "libzstd1")
WHEELS = (("tinyalpha", "1.0", "License: MIT\n"), ("tiny_beta", "2.1.0", "License-Expression: Apache-2.0 OR MIT\n"))
GO_MODULE = "example.com/hello"
GO_DEP = ("example.com/greet", "v1.2.3")


def host_stanzas(names: tuple[str, ...] = DPKG_PACKAGES) -> dict[str, str]:
    """The host's status stanzas of ``names``, verbatim."""
    text = Path("/var/lib/dpkg/status").read_text()
    out = {}
    for stanza in text.split("\n\n"):
        first = stanza.strip().split("\n", 1)[0]
        if first.startswith("Package: ") and first[9:] in names:
            out[first[9:]] = stanza.strip() + "\n"
    return out


def _copy_host_path(root: Path, path: str) -> None:
    """``path`` from the host into ``root`` at the same place (links under merged-usr kept)."""
    parent = os.path.realpath(os.path.dirname(path))
    dest = root / (parent.lstrip("/")) / os.path.basename(path)
    host = os.path.join(parent, os.path.basename(path))
    if os.path.islink(host):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(dest):
            os.symlink(os.readlink(host), dest)
    elif os.path.isfile(host):
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(host, dest)


def add_dpkg(root: Path, names: tuple[str, ...] = DPKG_PACKAGES) -> dict[str, str]:
    """Host stanzas of ``names`` (and a removed package's stanza, which must not count)."""
    stanzas = host_stanzas(names)
    for link in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{link}") and not os.path.lexists(root / link):
            os.symlink(os.readlink(f"/{link}"), root / link)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True, exist_ok=True)
    for name in stanzas:
        for list_file in Path("/var/lib/dpkg/info").glob(f"{name}*.list"):
            if list_file.name.split(".list")[0].split(":")[0] != name:
                continue
            shutil.copy2(list_file, info / list_file.name)
            for line in list_file.read_text().splitlines():
                _copy_host_path(root, line)
    removed = next(iter(stanzas.values())).replace("Status: install ok installed", "Status: deinstall ok config-files")
    removed = "Package: gone-pkg\n" + removed.split("\n", 1)[1]
    status = "\n".join([*stanzas.values(), removed])
    (root / "var/lib/dpkg/status").write_text(status)
    (root / "etc").mkdir(exist_ok=True)
    shutil.copy2(os.path.realpath("/etc/os-release"), root / "etc/os-release")
    return stanzas


def build_wheel(out: Path, name: str, version: str, license_line: str) -> Path:
    """A pure-Python wheel made by hand (the format is a zip with a RECORD)."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
             f"{dist}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{license_line}"
                                  "Summary: a test distribution\n").encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pybuild-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


def add_venv(root: Path, scratch: Path) -> Path:
    """A venv at /opt/venv with the two wheels installed by pip, offline."""
    venv = root / "opt/venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    scratch.mkdir(parents=True, exist_ok=True)
    wheels = [str(build_wheel(scratch, *w)) for w in WHEELS]
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
                    "--no-index", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", *wheels],
                   check=True, timeout=120)
    return venv


def add_npm(root: Path) -> None:
    mods = root / "app/node_modules"
    (mods / "left-pad").mkdir(parents=True)
    (mods / "left-pad/package.json").write_text('{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}')
    (mods / "left-pad/index.js").write_text("module.exports = 1\n")
    scoped = mods / "@acme/widget"
    scoped.mkdir(parents=True)
    (scoped / "package.json").write_text('{"name": "@acme/widget", "version": "0.2.0", "license": {"type": "MIT"}}')
    nested = scoped / "node_modules/tiny"
    nested.mkdir(parents=True)
    (nested / "package.json").write_text('{"name": "tiny", "version": "3.0.1"}')
    (root / "app/package.json").write_text('{"name": "app", "version": "1.0.0"}')  # the app, not a dependency


def go_binary(out: Path) -> Path | None:
    """A Go binary whose build info names a main module and one dependency; None without go."""
    go = shutil.which("go")
    if go is None:
        return None
    src = out / "gosrc"
    (src / "greet").mkdir(parents=True)
    (src / "greet/go.mod").write_text(f"module {GO_DEP[0]}\n\ngo 1.19\n")
    (src / "greet/greet.go").write_text('package greet\n\nfunc Hello() string { return "hello" }\n')
    (src / "go.mod").write_text(f"module {GO_MODULE}\n\ngo 1.19\n\nrequire {GO_DEP[0]} {GO_DEP[1]}\n\n"
                                f"replace {GO_DEP[0]} => ./greet\n")
    (src / "main.go").write_text(f'package main\n\nimport (\n\t"fmt"\n\n\t"{GO_DEP[0]}"\n)\n\n'
                                 "func main() { fmt.Println(greet.Hello()) }\n")
    # the compiled standard library is kept between runs (a first build compiles it: ~20 s)
    cache = os.environ.get("GOCACHE") or "/var/tmp/pybuild-tests-gocache"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": cache,
           "GOPATH": str(out / "gopath"), "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"}
    binary = out / "hello"
    subprocess.run([go, "build", "-trimpath", "-o", str(binary), "."], cwd=src, env=env, check=True, timeout=300)
    return binary


def make_rootfs(root: Path, scratch: Path, *, go: bool = True) -> dict[str, object]:
    """The whole tree; returns what went in (stanzas, and whether a Go binary did)."""
    root.mkdir(parents=True, exist_ok=True)
    stanzas = add_dpkg(root)
    add_venv(root, scratch / "wheels")
    add_npm(root)
    binary = go_binary(scratch / "go") if go else None
    if binary is not None:
        (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, root / "usr/local/bin/hello")
    return {"dpkg": stanzas, "go": binary is not None}
