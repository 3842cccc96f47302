"""Multi-platform builds (issue 16): `bud --platform` for arm64 under qemu-user-static
(registered in binfmt_misc by the test setup when it is not), a two-platform manifest list
pushed to a registry and read back by skopeo, and the cross-compilation pattern."""

from __future__ import annotations

import json
import platform
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import pyb, skopeo
from platform_helpers import aarch64_binfmt, two_platform_base, unrunnable_platform
from registry_fixtures import Registry

pytestmark = [pytest.mark.root, pytest.mark.integration]

if platform.machine() != "x86_64":
    pytest.skip("these tests build arm64 on an amd64 host", allow_module_level=True)


@pytest.fixture(scope="module")
def emulation() -> Iterator[None]:
    with aarch64_binfmt():
        yield


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    return two_platform_base(tmp_path_factory.mktemp("base") / "layout")


def _context(tmp: Path, text: str) -> Path:
    ctx = tmp / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    return ctx


def _elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    return int.from_bytes(head[18:20], "little")


ARGS_FILE = """FROM {base}
ARG TARGETPLATFORM
ARG TARGETARCH
ARG BUILDPLATFORM
RUN uname -m | cat > /arch && echo "$TARGETPLATFORM $TARGETARCH $BUILDPLATFORM" > /args
"""


def test_arm64_build_runs_under_emulation(emulation: None, base: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    out = tmp_path / "out"
    pyb(root, "bud", "--platform", "linux/arm64", "-t", "app-arm", "-o", f"type=local,dest={out}", str(ctx))
    assert (out / "arch").read_text() == "aarch64\n"
    assert (out / "args").read_text() == "linux/arm64 arm64 linux/amd64\n"
    assert _elf_machine(out / "bin" / "busybox") == 0xB7  # the arm64 base was picked from the index
    config = json.loads(pyb(root, "inspect", "app-arm").stdout)["OCIv1"]
    assert (config["os"], config["architecture"]) == ("linux", "arm64")


def test_two_platforms_into_a_manifest_pushed_with_all(emulation: None, base: str, tmp_path: Path,
                                                       registry: Registry) -> None:
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    proc = pyb(root, "bud", "--platform", "linux/amd64,linux/arm64", "--manifest", "app", str(ctx))
    for p in ("linux/amd64", "linux/arm64"):  # the platforms build side by side: each line says whose it is
        assert f"[{p}] STEP 5/5: RUN uname -m" in proc.stdout + proc.stderr
    dest = f"docker://{registry.host}/plat/app:1"
    pyb(root, "manifest", "push", "--all", "--tls-verify=false", "app", dest)
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout)
    arches = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert arches == ["amd64", "arm64"]
    for arch, machine in (("amd64", "x86_64"), ("arm64", "aarch64")):
        pulled = tmp_path / f"pulled-{arch}"
        skopeo("copy", "--src-tls-verify=false", "--override-arch", arch, dest, f"dir:{pulled}")
        cfg = json.loads(skopeo("inspect", "--config", "--raw", f"dir:{pulled}").stdout)
        assert cfg["architecture"] == arch
        assert _file_in_last_layer(pulled, "arch") == f"{machine}\n".encode()


def _file_in_last_layer(image_dir: Path, name: str) -> bytes:
    """A file of the top layer of a skopeo ``dir:`` image (what the last RUN wrote)."""
    manifest = json.loads((image_dir / "manifest.json").read_bytes())
    blob = image_dir / manifest["layers"][-1]["digest"].split(":")[1]
    with tarfile.open(blob) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_tag_with_several_platforms_names_a_list_push_sends_it_all(emulation: None, base: str, tmp_path: Path,
                                                                   registry: Registry) -> None:
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    pyb(root, "bud", "-t", "multi", str(ctx))  # an image of that name first: the list takes the name
    pyb(root, "bud", "--platform", "linux/amd64,linux/arm64", "-t", "multi", str(ctx))
    index = json.loads(pyb(root, "manifest", "inspect", "multi").stdout)
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    dest = f"docker://{registry.host}/plat/multi:1"
    pyb(root, "push", "--tls-verify=false", "multi", dest)
    assert json.loads(skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout) == index
    # skopeo verifies every blob of every instance as it copies
    skopeo("copy", "--all", "--src-tls-verify=false", dest, f"oci:{tmp_path}/copied:multi")


CROSS_FILE = """FROM --platform=$BUILDPLATFORM {base} AS build
ARG TARGETARCH
RUN echo "built on $(uname -m) for $TARGETARCH" > /out
FROM {base}
COPY --from=build /out /out
"""


def test_cross_pattern_runs_the_build_stage_natively(base: str, tmp_path: Path) -> None:
    # no emulation fixture: the target stage has no RUN, so arm64 needs no qemu
    root = tmp_path / "root"
    ctx = _context(tmp_path, CROSS_FILE.format(base=base))
    out = tmp_path / "out"
    pyb(root, "bud", "--platform", "linux/arm64", "-o", f"type=local,dest={out}", str(ctx))
    assert (out / "out").read_text() == "built on x86_64 for arm64\n"
    assert _elf_machine(out / "bin" / "busybox") == 0xB7


@pytest.mark.parametrize("value, words", [
    ("linux/sparc", ["unknown architecture 'sparc'"]),
    ("linux/arm64/v3", ["unknown variant 'v3'"]),
    ("windows/amd64", ["only linux"]),
    ("UNRUNNABLE", ["UNRUNNABLE cannot run here (for its RUN steps", "qemu-user-static", "binfmt"]),
])
def test_bad_platforms_are_one_line(base: str, tmp_path: Path, value: str, words: list[str]) -> None:
    if value == "UNRUNNABLE":
        value = unrunnable_platform()
        words = [w.replace("UNRUNNABLE", value) for w in words]
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    proc = pyb(root, "bud", "--platform", value, str(ctx), check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0]


def test_info_lists_the_emulated_platform(emulation: None, tmp_path: Path) -> None:
    info = json.loads(pyb(tmp_path / "root", "info").stdout)
    assert info["host"]["platforms"][0] == "linux/amd64"
    assert "linux/arm64" in info["host"]["platforms"]


def test_working_container_under_emulation(emulation: None, base: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    host_ctr = pyb(root, "from", "--name", "host", base).stdout.strip()  # the host's platform, stored as busybox
    assert pyb(root, "run", host_ctr, "--", "uname", "-m").stdout == "x86_64\n"
    ctr = pyb(root, "from", "--arch", "arm64", base).stdout.strip()
    assert pyb(root, "run", ctr, "--", "uname", "-m").stdout == "aarch64\n"
    info = json.loads(pyb(root, "inspect", "--type", "container", ctr).stdout)
    assert info["OCIv1"]["architecture"] == "arm64"
    pyb(root, "commit", ctr, "arm-img")
    assert json.loads(pyb(root, "inspect", "arm-img").stdout)["OCIv1"]["architecture"] == "arm64"
    # a stored image of another platform is not taken for the one asked: arm-img has no amd64 one
    proc = pyb(root, "from", "--pull=never", "--platform", "linux/amd64", "arm-img", check=False)
    assert proc.returncode != 0 and "arm-img for linux/amd64 is not in the local store" in proc.stderr


def test_run_in_a_container_of_a_platform_that_cannot_run_is_one_line(base: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    platform = unrunnable_platform()
    ctr = pyb(root, "from", "scratch").stdout.strip()
    pyb(root, "config", "--arch", platform.split("/")[1], ctr)
    proc = pyb(root, "run", ctr, "--", "true", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert f"platform {platform} cannot run here" in lines[0] and "qemu-user-static" in lines[0]


def test_from_platform_that_cannot_run_names_its_line(base: str, tmp_path: Path) -> None:
    platform = unrunnable_platform()
    ctx = _context(tmp_path, f"FROM --platform={platform} {base}\nENV A=1\nRUN true\n")
    proc = pyb(tmp_path / "root", "bud", str(ctx), check=False)
    [line] = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and "Containerfile:3: platform " + platform + " cannot run here" in line, line


def test_all_platforms_builds_each_platform_of_the_base_index(emulation: None, base: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    pyb(root, "bud", "--all-platforms", "--manifest", "every", str(ctx))
    index = json.loads(pyb(root, "manifest", "inspect", "every").stdout)
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    proc = pyb(root, "bud", "--all-platforms", "--platform", "linux/arm64", str(ctx), check=False)
    assert proc.returncode != 0 and "give --platform or --all-platforms, not both" in proc.stderr


def test_manifest_annotate_changes_an_instance_entry(emulation: None, base: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    pyb(root, "bud", "--platform", "linux/amd64,linux/arm64", "--manifest", "ann", str(ctx))
    arm = next(m for m in json.loads(pyb(root, "manifest", "inspect", "ann").stdout)["manifests"]
               if m["platform"]["architecture"] == "arm64")
    pyb(root, "manifest", "annotate", "--variant", "v8", "--annotation", "team=plat", "ann", arm["digest"])
    after = next(m for m in json.loads(pyb(root, "manifest", "inspect", "ann").stdout)["manifests"]
                 if m["digest"] == arm["digest"])
    assert after["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert after["annotations"] == {"team": "plat"}
    proc = pyb(root, "manifest", "annotate", "--arch", "s390x", "ann", "sha256:" + "0" * 64, check=False)
    assert proc.returncode != 0 and "has no instance sha256:000" in proc.stderr
    pyb(root, "manifest", "annotate", "--os", "linux", "--os-version", "6.1", "--os-features", "f1", "ann",
        arm["digest"])
    after = next(m for m in json.loads(pyb(root, "manifest", "inspect", "ann").stdout)["manifests"]
                 if m["digest"] == arm["digest"])
    assert (after["platform"]["os.version"], after["platform"]["os.features"]) == ("6.1", ["f1"])
    proc = pyb(root, "manifest", "annotate", "--features", "sse4", "ann", arm["digest"], check=False)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines() == [
        "Error: manifest annotate --features: not supported (OCI indexes have no platform features)"]


def test_one_base_image_for_two_variants_keys_apart(base: str, tmp_path: Path) -> None:
    """amd64/v2 and amd64/v3 both run a plain amd64 (v1) image: both builds use it, and neither
    takes the other's cached steps (whose config names the other variant)."""
    import shutil

    from platform_helpers import busybox_image
    from registry_fixtures import write_oci_layout

    host = shutil.which("busybox")
    assert host
    layout = tmp_path / "v6"
    write_oci_layout(layout, {"b": [("amd64", busybox_image(Path(host), "amd64"))]})
    # no RUN: the host cannot run arm code without a handler, and ENV is enough to show the key
    ctx = _context(tmp_path, f"FROM oci:{layout}:b\nENV A=1\n")
    root = tmp_path / "root"
    pyb(root, "bud", "--platform", "linux/amd64/v2", "-t", "v2", str(ctx))
    pyb(root, "bud", "--platform", "linux/amd64/v3", "-t", "v3", str(ctx))
    variants = [json.loads(pyb(root, "inspect", name).stdout)["OCIv1"].get("variant") for name in ("v2", "v3")]
    assert variants == ["v2", "v3"]


def test_cross_pattern_needs_no_emulation_for_the_target(base: str, tmp_path: Path) -> None:
    """A platform this host cannot run is built when every RUN is in a $BUILDPLATFORM stage."""
    platform = unrunnable_platform()
    ctx = _context(tmp_path, f"FROM --platform=$BUILDPLATFORM {base} AS build\nARG TARGETARCH\n"
                             "RUN echo \"for $TARGETARCH\" > /out\nFROM scratch\nCOPY --from=build /out /out\n")
    root = tmp_path / "root"
    out = tmp_path / "out"
    pyb(root, "bud", "--platform", platform, "-t", "cross", "-o", f"type=local,dest={out}", str(ctx))
    assert (out / "out").read_text() == f"for {platform.split('/')[1]}\n"
    config = json.loads(pyb(root, "inspect", "cross").stdout)["OCIv1"]
    assert f"{config['os']}/{config['architecture']}" == platform


@pytest.mark.parametrize("args, message", [
    (["--platform", "linux/amd64,linux/arm64", "--iidfile", "id"], "--iidfile takes one image"),
    (["--platform", "linux/amd64,linux/arm64", "-o", "type=zip,dest=out"], "invalid --output"),
    (["--platform", "linux/amd64,,linux/arm64"], "an empty platform in the list"),
    (["--platform", "linux/amd64,linux/amd64"], "linux/amd64 is given twice"),
])
def test_bad_multi_platform_requests_are_one_line(base: str, tmp_path: Path, args: list[str], message: str) -> None:
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    proc = pyb(tmp_path / "root", "bud", *args, str(ctx), check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and message in lines[0], proc.stderr
    assert "STEP" not in proc.stdout  # refused before anything is built


def test_library_build_for_a_platform(emulation: None, base: str, tmp_path: Path) -> None:
    import pybuild

    store = pybuild.Store(tmp_path / "root")
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    image = pybuild.build(ctx, tags=["lib-arm"], store=store, platform="linux/arm64")
    assert image.config.architecture == "arm64"
    with pytest.raises(pybuild.PybuildError, match="one build makes one image"):
        pybuild.build(ctx, store=store, platform="linux/amd64,linux/arm64")
    result = pybuild.build_platforms(ctx, store=store, platform="linux/amd64,linux/arm64", manifest="lib-list")
    assert sorted(result.images) == ["linux/amd64", "linux/arm64"]
    assert result.images["linux/arm64"].id == image.id  # the same inputs: the cache answers every step
    assert result.lists == ["localhost/lib-list:latest"]


def test_output_of_several_platforms_has_a_directory_each(emulation: None, base: str, tmp_path: Path) -> None:
    """BuildKit's layout: -o type=local,dest=DIR puts each platform's tree in DIR/linux_ARCH,
    type=tar one tar holding those directories."""
    root = tmp_path / "root"
    ctx = _context(tmp_path, ARGS_FILE.format(base=base))
    out, tar = tmp_path / "out", tmp_path / "out.tar"
    pyb(root, "bud", "--platform", "linux/amd64,linux/arm64", "-o", f"type=local,dest={out}",
        "-o", f"type=tar,dest={tar}", str(ctx))
    assert sorted(p.name for p in out.iterdir()) == ["linux_amd64", "linux_arm64"]
    assert (out / "linux_arm64" / "arch").read_text() == "aarch64\n"
    assert (out / "linux_amd64" / "arch").read_text() == "x86_64\n"
    assert _elf_machine(out / "linux_arm64" / "bin" / "busybox") == 0xB7
    assert _elf_machine(out / "linux_amd64" / "bin" / "busybox") == 0x3E
    import tarfile

    with tarfile.open(tar) as t:
        names = set(t.getnames())
        assert {"linux_amd64/arch", "linux_arm64/arch", "linux_arm64/bin/busybox"} <= names
        member = t.extractfile("linux_arm64/args")
        assert member is not None and member.read() == b"linux/arm64 arm64 linux/amd64\n"
