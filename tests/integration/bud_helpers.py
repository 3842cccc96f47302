"""Helpers for the `pybuild bud` integration tests: a store with a busybox base, run
through the CLI as a user would, and checks for what a build may leave behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import busybox_context

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "examples" / "Containerfiles"


def need_tool(name: str) -> str:
    """Skip the calling test unless ``name`` is on PATH."""
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@dataclass
class Store:
    """A pybuild store root holding a ``busybox`` image built from /bin/busybox."""

    root: Path

    def run(self, *args: str, check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        r = subprocess.run(["pybuild", "--root", str(self.root), *args], capture_output=True, text=True,
                           input=input, env=full_env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"pybuild {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def bud(self, ctx: Path, *flags: str, check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("bud", *flags, str(ctx), check=check, input=input, env=env)

    def image_ids(self) -> list[str]:
        return sorted(i["id"] for i in json.loads(self.run("images", "--json").stdout))

    def image_json(self) -> str:
        return self.run("images", "--json").stdout

    def inspect(self, name: str) -> dict:
        return json.loads(self.run("inspect", name).stdout)

    def config(self, name: str) -> dict:
        cfg: dict = json.loads(self.inspect(name)["Config"])
        return cfg

    def export(self, name: str, dest: Path) -> Path:
        """Push ``name`` to an OCI layout at ``dest`` (tag ``latest``) and return it."""
        self.run("push", name, f"oci:{dest}:latest")
        return dest

    def rootfs(self, name: str, tmp: Path) -> Path:
        """The image's root filesystem, unpacked by umoci (an independent reader)."""
        need_tool("umoci")
        layout = self.export(name, tmp / "layout")
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(tmp / "bundle")],
                       check=True, capture_output=True)
        return tmp / "bundle" / "rootfs"


def make_store(root: Path) -> Store:
    """A new store with ``busybox`` built from examples/Containerfiles/busybox."""
    store = Store(root / "store")
    store.bud(busybox_context(root), "-t", "busybox")
    return store


def context(tmp: Path, containerfile: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(containerfile)
    for name, text in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def mounts_under(path: Path) -> list[str]:
    """Mount points (of this mount namespace) at or below ``path``."""
    out = []
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


def containers_left(store: Store) -> list[str]:
    d = store.root / "containers"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def layer_members(layout: Path) -> tuple[dict, dict, list[tuple[str, bytes]]]:
    """(manifest, config, [(name, content)]) of the image at ``layout:latest``."""
    index = json.loads((layout / "index.json").read_text())
    mdesc = index["manifests"][0]

    def blob(digest: str) -> bytes:
        algo, hexd = digest.split(":", 1)
        return (layout / "blobs" / algo / hexd).read_bytes()

    manifest = json.loads(blob(mdesc["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    members: list[tuple[str, bytes]] = []
    for layer in manifest["layers"]:
        algo, hexd = layer["digest"].split(":", 1)
        path = layout / "blobs" / algo / hexd
        mode = "r:*"
        if layer["mediaType"].endswith("zstd"):
            data = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
            import io

            tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        else:
            tf = tarfile.open(path, mode)
        with tf:
            for m in tf:
                content = b""
                if m.isfile():
                    fo = tf.extractfile(m)
                    content = fo.read() if fo else b""
                members.append((m.name, content))
    return manifest, config, members


def run_bundle(store: Store, name: str, tmp: Path, args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Export ``name``, unpack it with umoci and run it with runc (no terminal)."""
    need_tool("umoci")
    layout = store.export(name, tmp / "run-layout")
    bundle = tmp / "run-bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True,
                   capture_output=True)
    cfg_path = bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["terminal"] = False
    if args is not None:
        cfg["process"]["args"] = args
    cfg_path.write_text(json.dumps(cfg))
    cid = f"pybuild-test-{os.getpid()}-{tmp.name}"[:60]
    try:
        return subprocess.run(["runc", "run", "--bundle", str(bundle), cid], capture_output=True, text=True,
                              timeout=120)
    finally:
        subprocess.run(["runc", "delete", "-f", cid], capture_output=True)
