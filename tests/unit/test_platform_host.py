"""Which platforms can run here: read from binfmt_misc entries (a fake directory here), and
platform names checked with one-line errors."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from pybuild.errors import ConfigError, ImageNotFound
from pybuild.oci.digest import Digest
from pybuild.oci.platform_host import check_runnable, parse_platform, runnable_platforms
from pybuild.oci.spec import OCI_MANIFEST, Descriptor, Index, Platform
from pybuild.oci.transport import select_manifest

AARCH64 = "7f454c460201010000000000000000000200b700"
ARM = "7f454c4601010100000000000000000002002800"
S390X = "7f454c4602020100000000000000000000020016"

needs_amd64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="expectations written for an amd64 host")


def _entry(d: Path, name: str, magic: str, *, flags: str = "F", enabled: bool = True) -> None:
    d.mkdir(exist_ok=True)
    (d / name).write_text(f"{'enabled' if enabled else 'disabled'}\ninterpreter /usr/bin/qemu-{name}-static\n"
                          f"flags: {flags}\noffset 0\nmagic {magic}\nmask ffffffffffffff00fffffffffffffffffeffffff\n")


@needs_amd64
def test_handlers_with_the_f_flag_make_their_platform_runnable(tmp_path: Path) -> None:
    d = tmp_path / "binfmt"
    _entry(d, "aarch64", AARCH64, flags="OCF")
    _entry(d, "arm", ARM, flags="P")  # without F the interpreter is not there inside a chroot
    _entry(d, "s390x", S390X, enabled=False)
    (d / "register").write_text("")
    (d / "status").write_text("enabled\n")
    assert runnable_platforms(str(d)) == ["linux/amd64", "linux/386", "linux/arm64"]
    check_runnable(parse_platform("linux/arm64/v8"), "its RUN steps", str(d))
    with pytest.raises(ConfigError) as e:
        check_runnable(parse_platform("linux/arm/v7"), "its RUN steps", str(d), where="Containerfile:2")
    text = str(e.value)
    assert "\n" not in text and text.startswith("Containerfile:2: platform linux/arm/v7 cannot run here (for its RUN steps")
    assert "qemu-user-static" in text and "F flag" in text


@needs_amd64
def test_no_binfmt_misc_leaves_the_native_platforms(tmp_path: Path) -> None:
    assert runnable_platforms(str(tmp_path / "absent")) == ["linux/amd64", "linux/386"]


@pytest.mark.parametrize("text, message", [
    ("linux/sparc", "unknown architecture 'sparc'"),
    ("darwin/arm64", "only linux images can be built (not darwin)"),
    ("linux/arm/v9", "unknown variant 'v9' for arm (known: v5, v6, v7, v8)"),
    ("linux//v7", "invalid platform"),
])
def test_bad_platform_names_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_platform(text, "--platform")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_good_platform_names() -> None:
    assert str(parse_platform("arm64")) == "linux/arm64"
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"


def _index(*platforms: str) -> Index:
    return Index([Descriptor(OCI_MANIFEST, Digest.of_bytes(p.encode()), 1, platform=Platform.parse(p))
                  for p in platforms])


@pytest.mark.parametrize("entries, want, picked", [
    (["linux/arm/v6", "linux/arm/v7", "linux/arm64"], "linux/arm/v7", "linux/arm/v7"),
    (["linux/arm/v5", "linux/arm/v6"], "linux/arm/v7", "linux/arm/v6"),  # the newest it still runs
    (["linux/arm64/v8", "linux/amd64"], "linux/arm64", "linux/arm64/v8"),  # arm64 = arm64/v8
    (["linux/amd64", "linux/arm64"], "linux/arm64/v8", "linux/arm64"),
    (["linux/amd64/v2", "linux/amd64/v3"], "linux/amd64/v3", "linux/amd64/v3"),
    (["unknown/unknown", "linux/amd64"], "linux/amd64", "linux/amd64"),
])
def test_index_entries_are_picked_as_containerd(entries: list[str], want: str, picked: str) -> None:
    assert str(select_manifest(_index(*entries), want).platform) == picked


@pytest.mark.parametrize("entries, want", [
    (["linux/arm/v7", "linux/arm/v8"], "linux/arm/v6"),  # an older machine cannot run newer code
    (["linux/amd64"], "linux/arm64"),
])
def test_no_runnable_entry_is_an_error_naming_what_there_is(entries: list[str], want: str) -> None:
    with pytest.raises(ImageNotFound) as e:
        select_manifest(_index(*entries), want)
    assert f"no image for platform {want}" in str(e.value) and entries[0] in str(e.value)
