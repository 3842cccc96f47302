"""Cosign-format signatures and attestations of registry images: what ``pybuild
generate-key-pair``, ``sign``, ``verify``, ``attest`` and ``verify-attestation`` run.

Public (re-exported by ``pybuild``). ``image`` is a registry reference (``docker://`` may
lead it); a key's password is ``password``, or the value of the variable ``password_env``
(unset: one ConfigError line). Registry options are ``pybuild.pull``'s keywords."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybuild.manifests import Annotations
    from pybuild.oci.digest import Digest

StrPath = str | os.PathLike[str]


def _ref(image: str) -> str:
    return image.removeprefix("docker://")


def _password(password: str | bytes | None, env: str | None) -> bytes | None:
    if password is not None:
        return password.encode() if isinstance(password, str) else password
    if not env:
        return None
    value = os.environ.get(env)
    if value is None:
        from pybuild.errors import ConfigError

        raise ConfigError(f"--password-env {env}: the variable is not set")
    return value.encode()


def _options(keywords: dict[str, Any]) -> Any:
    from pybuild.remote import registry_options

    return registry_options(keywords)


def generate_key_pair(prefix: StrPath = "cosign", *, password: str | bytes | None = None,
                      password_env: str | None = None) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair, ``PREFIX.key`` (0600; encrypted with a password) and
    ``PREFIX.pub``, PEM as cosign import-key-pair reads it; returns their paths."""
    from pybuild.oci import sign as sign_mod

    private, public = Path(os.fspath(prefix) + ".key"), Path(os.fspath(prefix) + ".pub")
    sign_mod.generate_key_pair(private, public, _password(password, password_env))
    return private, public


def sign(image: str, key: StrPath, *, annotations: Annotations = None, password: str | bytes | None = None,
         password_env: str | None = None, **registry_options: Any) -> Digest:
    """Sign the manifest ``image`` names now, as cosign does (a ``.sig`` image beside it, with
    ``annotations`` -- a mapping or KEY=VALUE words -- signed too); returns the digest signed."""
    from pybuild.manifests import annotations_of
    from pybuild.oci import sign as sign_mod

    extra = annotations_of(annotations)
    secret = _password(password, password_env)
    return sign_mod.sign(_ref(image), Path(key), password=secret, annotations=extra or None,
                         options=_options(registry_options))


def verify(image: str, key: StrPath, **registry_options: Any) -> list[dict[str, Any]]:
    """The cosign signatures of ``image`` that the public ``key`` verifies, as ``cosign
    verify`` prints them; IntegrityError when there is none."""
    from pybuild.oci import sign as sign_mod

    found = sign_mod.verify(_ref(image), Path(key), options=_options(registry_options))
    return [{"critical": {"identity": {"docker-reference": v.docker_reference},
                          "image": {"docker-manifest-digest": v.manifest_digest},
                          "type": "cosign container image signature"},
             "optional": v.optional} for v in found]


def attest(image: str, key: StrPath, predicate: StrPath, type: str = "custom", *,
           password: str | bytes | None = None, password_env: str | None = None,
           **registry_options: Any) -> Digest:
    """Sign the file ``predicate`` as an in-toto attestation of ``image`` (``type``: spdx,
    spdxjson, cyclonedx, slsaprovenance, slsaprovenance1, link, vuln, custom, or a URI), as
    cosign attest does: a ``.att`` image beside it. Returns the digest attested."""
    from pybuild.oci.attest_sign import attest as attest_image

    return attest_image(_ref(image), Path(key), Path(predicate), type, password=_password(password, password_env),
                        options=_options(registry_options))


def verify_attestation(image: str, key: StrPath, type: str = "custom", **registry_options: Any) -> list[dict[str, Any]]:
    """The in-toto statements of ``type`` about ``image`` that the public ``key`` verifies;
    IntegrityError when there is none."""
    from pybuild.oci.attest_sign import verify_attestation as verify_statements

    return verify_statements(_ref(image), Path(key), type, options=_options(registry_options))


__all__ = ["generate_key_pair", "sign", "verify", "attest", "verify_attestation"]
