"""TLS: --tls-verify and --cert-dir against a registry with a certificate from a test CA."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from registry_fixtures import Registry, make_image

from pybuild.errors import RegistryError
from pybuild.oci.registry.client import RegistryClient, RegistryOptions, RetryPolicy
from pybuild.oci.registry.transport import open_destination, open_source
from pybuild.oci.spec import parse_manifest

pytestmark = pytest.mark.integration
FAST = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.5, max_total=10.0)


def _round_trip(host: str, opts: RegistryOptions) -> None:
    image = make_image("tls")
    with open_destination(f"{host}/tls/app:1", opts) as dst:
        doc = parse_manifest(image.manifest)
        for desc in [doc.config, *doc.layers]:  # type: ignore[union-attr]
            dst.put_blob(desc, io.BytesIO(image.blobs[desc.digest]))
        dst.put_manifest(image.manifest, image.media_type)
    with open_source(f"{host}/tls/app:1", opts) as src:
        assert src.get_manifest()[0] == image.manifest


def test_verified_with_cert_dir(tls_registry: Registry, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_registry.ca_path, certs / "ca.crt")
    opts = RegistryOptions(retry=FAST, tls_verify=True, cert_dir=str(certs))
    _round_trip(tls_registry.host, opts)
    with RegistryClient(tls_registry.host, opts) as c:
        assert c.base_url.startswith("https://")


def test_unknown_ca_is_refused_when_verifying(tls_registry: Registry, tmp_path: Path) -> None:
    opts = RegistryOptions(retry=FAST, tls_verify=True, cert_dir=str(tmp_path))
    with pytest.raises(RegistryError) as e, open_source(f"{tls_registry.host}/tls/app:1", opts) as src:
        src.get_manifest()
    assert "certificate" in str(e.value).lower() and "\n" not in str(e.value)


def test_tls_verify_false_speaks_https_without_checking(tls_registry: Registry) -> None:
    opts = RegistryOptions(retry=FAST, tls_verify=False)
    _round_trip(tls_registry.host, opts)
    with RegistryClient(tls_registry.host, opts) as c:
        assert c.base_url.startswith("https://")


def test_plain_http_registry_refused_with_tls_verify_true(registry: Registry) -> None:
    opts = RegistryOptions(retry=FAST, tls_verify=True)
    with pytest.raises(RegistryError), open_source(f"{registry.host}/x/y:1", opts) as src:
        src.get_manifest()
