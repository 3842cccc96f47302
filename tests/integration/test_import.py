"""`pybuild import TARBALL NAME` (podman import): a rootfs tarball becomes an image a build stands on."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.cli_helpers import PYBUILD, blob_files, images, pyb

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _rootfs(tmp: Path) -> Path:
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    root = tmp / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in ("sh", "cat", "pwd"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "hi").write_text("from a tarball\n")
    return root


def test_import_xz_with_changes_then_build_on_it(tmp_path: Path) -> None:
    rootfs = _rootfs(tmp_path)
    tarball = tmp_path / "rootfs.tar.xz"
    subprocess.run(["tar", "-C", str(rootfs), "-cJf", str(tarball), "."], check=True, timeout=60)
    store = tmp_path / "store"
    iid = pyb(store, "import", "-q", "-c", 'CMD ["cat", "/etc/hi"]', "-c", "ENV A=1 B=two", "-c", "WORKDIR /etc",
              "-c", "LABEL made=import", "-c", "EXPOSE 8080", "-m", "debootstrapped",
              str(tarball), "deb:xz").stdout.strip()
    assert [i["names"] for i in images(store)] == [["localhost/deb:xz"]]
    info = json.loads(pyb(store, "inspect", "deb:xz").stdout)
    assert info["FromImageID"] == iid
    config = info["OCIv1"]
    assert config["config"]["Cmd"] == ["cat", "/etc/hi"]
    assert config["config"]["Env"] == ["A=1", "B=two"]
    assert config["config"]["WorkingDir"] == "/etc"
    assert config["config"]["Labels"] == {"made": "import"}
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert [h.get("comment") for h in config["history"]] == ["debootstrapped"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM deb:xz\nRUN pwd > /where && cat hi > /copy && echo $B >> /copy\n")
    pyb(store, "bud", "-q", "-t", "on-top", "-o", f"type=local,dest={tmp_path / 'out'}", str(ctx))
    assert (tmp_path / "out" / "where").read_text() == "/etc\n"
    assert (tmp_path / "out" / "copy").read_text() == "from a tarball\ntwo\n"


def test_import_gzip_from_stdin_keeps_the_blob(tmp_path: Path) -> None:
    rootfs = _rootfs(tmp_path)
    tarball = tmp_path / "rootfs.tgz"
    subprocess.run(["tar", "-C", str(rootfs), "-czf", str(tarball), "."], check=True, timeout=60)
    store = tmp_path / "store"
    proc = subprocess.run([*PYBUILD, "--root", str(store), "import", "-", "piped"], stdin=tarball.open("rb"),
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(json.loads(pyb(store, "inspect", "piped").stdout)["Manifest"])
    # a gzip tarball is the layer byte for byte
    import hashlib

    assert manifest["layers"][0]["digest"] == "sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert manifest["layers"][0]["mediaType"].endswith("tar+gzip")
    cid = pyb(store, "from", "piped").stdout.strip().splitlines()[-1]
    assert pyb(store, "run", cid, "--", "cat", "/etc/hi").stdout == "from a tarball\n"
    pyb(store, "rm", cid)


def test_import_mistakes_are_one_line_and_leave_the_store(tmp_path: Path) -> None:
    rootfs = _rootfs(tmp_path)
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True, timeout=60)
    store = tmp_path / "store"
    pyb(store, "import", "-q", str(tarball), "first")
    before, blobs = images(store), blob_files(store)
    notatar = tmp_path / "notes.txt"
    notatar.write_text("just words\n" * 100)
    cases = {
        (str(notatar), "x"): f"Error: {notatar}: not a tar archive",
        (str(tmp_path / "absent.tar"), "x"): f"Error: {tmp_path / 'absent.tar'}: no such file",
        ("-c", "RUN echo hi", str(tarball), "x"):
            "Error: --change 'RUN echo hi': RUN cannot be applied (use one of CMD, ENTRYPOINT, ENV, EXPOSE, "
            "LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)",
        ("http://127.0.0.1:9/rootfs.tar", "x"):
            "Error: http://127.0.0.1:9/rootfs.tar: import reads a local tarball (download a remote one first)",
    }
    for args, line in cases.items():
        proc = pyb(store, "import", *args, check=False)
        assert proc.returncode != 0
        assert proc.stderr.strip().splitlines() == [line], proc.stderr
    assert images(store) == before and blob_files(store) == blobs


def test_an_imported_tarball_cannot_write_outside_the_root(tmp_path: Path) -> None:
    """A hostile tarball is stored as the layer it is; unpacking it stays inside the root."""
    tarball = tmp_path / "evil.tar"
    with tarfile.open(tarball, "w") as tar:
        for name, data in (("ok", b"fine\n"), ("../../../../escaped-by-import", b"evil\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
        tar.addfile(link)
        data = b"through a link\n"
        info = tarfile.TarInfo("etc/escaped-through-link")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    store = tmp_path / "store"
    pyb(store, "import", "-q", str(tarball), "evil")
    out = tmp_path / "out"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM evil\n")
    pyb(store, "bud", "-q", "-o", f"type=local,dest={out}", str(ctx))
    # `..` clamps to the root and the absolute link resolves inside it, as a pulled layer's would
    assert (out / "escaped-by-import").read_text() == "evil\n"
    assert (out / "tmp" / "escaped-through-link").read_text() == "through a link\n"
    assert not Path("/escaped-by-import").exists() and not (tmp_path / "escaped-by-import").exists()
    assert not Path("/tmp/escaped-through-link").exists()


def test_import_from_the_library(tmp_path: Path) -> None:
    """pybuild.import_tarball is the same operation the verb runs."""
    import pybuild

    rootfs = _rootfs(tmp_path)
    tarball = tmp_path / "rootfs.tar.zst"
    subprocess.run(["tar", "-C", str(rootfs), "--zstd", "-cf", str(tarball), "."], check=True, timeout=60)
    image = pybuild.import_tarball(tarball, "lib", store=tmp_path / "store", changes=["USER 1000"],
                                   platform="linux/arm64")
    assert image.names == ["localhost/lib:latest"]
    config = json.loads(pyb(tmp_path / "store", "inspect", "lib").stdout)["OCIv1"]
    assert (config["architecture"], config["config"]["User"]) == ("arm64", "1000")
    manifest = json.loads(json.loads(pyb(tmp_path / "store", "inspect", "lib").stdout)["Manifest"])
    assert manifest["layers"][0]["mediaType"].endswith("tar+zstd")


def test_import_platform_flags_set_the_config(tmp_path: Path) -> None:
    rootfs = _rootfs(tmp_path)
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True, timeout=60)
    store = tmp_path / "store"
    pyb(store, "import", "-q", "--os", "linux", "--arch", "arm", "--variant", "v7", str(tarball), "armish")
    config = json.loads(pyb(store, "inspect", "armish").stdout)["OCIv1"]
    assert (config["os"], config["architecture"], config.get("variant")) == ("linux", "arm", "v7")
