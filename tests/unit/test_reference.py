"""Image references normalise as Docker and buildah do."""

from __future__ import annotations

import pytest

from pybuild.errors import InvalidReference
from pybuild.oci.reference import Reference, is_short_name

D = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("quay.io/ns/app", "quay.io/ns/app:latest", "quay.io/ns/app:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/a/b/c:t_1.x-y", "localhost:5000/a/b/c:t_1.x-y", "localhost:5000/a/b/c:t_1.x-y"),
    (f"127.0.0.1:5000/app:tag@{D}", f"127.0.0.1:5000/app:tag@{D}", f"127.0.0.1:5000/app:tag@{D}"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    ("Registry/app", "Registry/app:latest", "Registry/app:latest"),  # uppercase first part: a host
])
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_parts() -> None:
    ref = Reference.parse(f"localhost:5000/ns/app:v2@{D}")
    assert ref.registry == "localhost:5000"
    assert ref.repository == "ns/app"
    assert ref.tag == "v2" and ref.digest == D
    assert ref.name == "localhost:5000/ns/app"
    assert ref.reference == D
    assert Reference.parse("busybox").reference == "latest"


@pytest.mark.parametrize("bad", [
    "", " busybox", "Busybox", "docker.io/Library/busybox", "busybox:", "busybox:-x",
    "busybox:" + "a" * 129, "busybox@sha256:../../x", "busybox@sha256:" + "A" * 64,
    "a//b", "a/", "/a", "docker://busybox", "foo..bar", "a__-b", "0" * 64,
    "x" * 256,
])
def test_invalid(bad: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(bad)


def test_local_names_as_buildah() -> None:
    assert str(Reference.local("myapp")) == "localhost/myapp:latest"
    assert str(Reference.local("myns/myapp:1")) == "localhost/myns/myapp:1"
    assert str(Reference.local("quay.io/x/y")) == "quay.io/x/y:latest"
    with pytest.raises(InvalidReference):
        Reference.local("")


def test_short_names() -> None:
    assert is_short_name("busybox")
    assert is_short_name("library/busybox:1")
    assert not is_short_name("docker.io/busybox")
    assert not is_short_name("localhost/app")
    assert not is_short_name("host:5000/app")


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("busybox")
    assert str(ref.with_tag("1")) == "docker.io/library/busybox:1"
    assert str(ref.with_digest(D)) == f"docker.io/library/busybox:latest@{D}"
    with pytest.raises(InvalidReference):
        ref.with_tag("bad tag")
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:nope")
