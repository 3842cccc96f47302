"""``containers-storage:`` — the store podman, buildah and skopeo share, through skopeo.

Spelling, as containers/image's storage transport: ``containers-storage:NAME`` or
``containers-storage:[DRIVER@ROOT+RUNROOT:OPTIONS]NAME`` (``[ROOT]`` and ``[DRIVER@ROOT]``
too); without the brackets, /etc/containers/storage.conf decides, as it does for podman.

Why skopeo and not containers/storage's layout written directly: that layout is the private
format of one Go library (layers.json, images.json, the overlay driver's ``l/`` short links,
tar-split metadata podman needs to export a layer again, a ``storage.lock``/``layers.lock``
protocol of fcntl locks plus a last-writer file that other processes poll), and it has
changed between releases. skopeo *is* that library: it takes the locks every podman and
buildah honours, writes exactly what they read, and is installed wherever podman is. The
price is one staging copy: pushing writes the image as a temporary OCI layout (verified as
usual) that skopeo then copies in; pulling has skopeo write such a layout that pybuild then
reads and verifies like any other. An oci-archive would add a tar of the same bytes for
nothing, since skopeo unpacks an archive to a directory first.

Both ends are stores on this machine, so skopeo runs with ``--insecure-policy``: a signature
policy is about images from registries, and the staging layout is pybuild's own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pybuild.errors import ConfigError, InvalidReference, StoreError, UnsupportedError
from pybuild.lazyre import lazy
from pybuild.oci.archive import OCIDestination, OCISource
from pybuild.oci.layout import Layout

_STAGING_REF = "pybuild-staging"
_TIMEOUT = 1800.0  # one copy of a large image into or out of containers-storage
_BRACKET = lazy(r"^\[(?:(?P<driver>[a-z0-9]+)@)?(?P<root>/[^+\]:]*)(?:\+(?P<runroot>/[^\]:]*))?"
                      r"(?::(?P<options>[^\]]*))?\](?P<name>.*)$")


def parse(rest: str) -> tuple[str, str]:
    """``[overlay@/r+/rr]NAME`` -> (``[overlay@/r+/rr]``, ``NAME``), the store part checked."""
    store, name = "", rest
    if rest.startswith("["):
        m = _BRACKET.match(rest)
        if m is None:
            raise InvalidReference(f"containers-storage:{rest}: the store is spelled "
                                   "[DRIVER@ROOT+RUNROOT:OPTIONS] with absolute paths")
        store, name = rest[: len(rest) - len(m.group("name"))], m.group("name")
    if not name:
        raise InvalidReference(f"containers-storage:{rest}: no image name after the store")
    if not name.startswith("@"):
        from pybuild.oci.reference import Reference

        Reference.parse(name)
    return store, name


def skopeo() -> str:
    exe = shutil.which("skopeo")
    if exe is None:
        raise UnsupportedError("containers-storage: needs skopeo (apt-get install skopeo)")
    return exe


def _copy(src: str, dst: str, where: str) -> None:
    """skopeo copy SRC DST, its failure as one line."""
    argv = [skopeo(), "--insecure-policy", "copy", "--quiet", src, dst]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise StoreError(f"{where}: skopeo did not finish within {_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        raise StoreError(f"{where}: {_skopeo_message(proc.stderr)}")


def _skopeo_message(stderr: str) -> str:
    """skopeo's last line, without its logrus decoration (time=... level=fatal msg="...")."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "skopeo failed"
    m = re.search(r'msg="(.*)"\s*$', last)
    return (m.group(1).replace('\\"', '"') if m else last).strip()


def _staging_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pybuild-cs-"))


class ContainersStorageDestination(OCIDestination):
    """Stages the image as an OCI layout; ``commit`` hands it to skopeo, then it is gone."""

    supports_index = False  # containers-storage keeps one image per name (as podman pulls)

    def __init__(self, rest: str) -> None:
        store, name = parse(rest)
        self.target = f"containers-storage:{store}{name}"
        self._staging = _staging_dir()
        super().__init__(Layout.create(self._staging / "layout"), _STAGING_REF, self.target)

    def commit(self) -> None:
        super().commit()
        _copy(f"oci:{self._staging / 'layout'}:{_STAGING_REF}", self.target, self.target)

    def close(self) -> None:
        shutil.rmtree(self._staging, ignore_errors=True)


class _Cleanup:
    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def open_source(rest: str, **options: Any) -> OCISource:
    """skopeo copies the image out into a staging layout, read (and verified) as ``oci:``."""
    _refuse_registry_options(options)
    store, name = parse(rest)
    spec = f"containers-storage:{store}{name}"
    staging = _staging_dir()
    try:
        _copy(spec, f"oci:{staging / 'layout'}:{_STAGING_REF}", spec)
        return OCISource(Layout.open(staging / "layout"), _STAGING_REF, spec, closer=_Cleanup(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def open_destination(rest: str, **options: Any) -> ContainersStorageDestination:
    _refuse_registry_options(options)
    return ContainersStorageDestination(rest)


def _refuse_registry_options(options: dict[str, Any]) -> None:
    """Credentials, TLS and retries mean nothing for a local store: asked for, they are an error."""
    given = sorted(k for k, v in options.items() if v not in (None, False) and k != "platform")
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{flags}: containers-storage: is a local store (no registry to talk to)")


def pull_name(rest: str) -> str | None:
    """The name a pulled image gets: the NAME as containers-storage normalises it; none for @ID."""
    _, name = parse(rest)
    if name.startswith("@"):
        return None
    from pybuild.oci.reference import Reference

    return str(Reference.parse(name))


__all__ = ["parse", "open_source", "open_destination", "pull_name", "ContainersStorageDestination"]
