"""`pybuild sign`, `pybuild verify`, `pybuild generate-key-pair`: cosign-format signatures."""

from __future__ import annotations

import json

import click

from pybuild.cli.images import _registry_options, registry_flags
from pybuild.cli.pflag import command


@command("generate-key-pair")
@click.option("--output-key-prefix", default="cosign", show_default=True, help="Writes PREFIX.key and PREFIX.pub.")
@click.option("--password-env", default=None, help="Encrypt the private key with this variable's value.")
def generate_key_pair_cmd(output_key_prefix: str, password_env: str | None) -> None:
    """Make an ECDSA P-256 key pair for `sign` and `verify` (PEM; cosign import-key-pair reads it)."""
    import pybuild

    private, public = pybuild.generate_key_pair(output_key_prefix, password_env=password_env)
    click.echo(f"Private key written to {private}")
    click.echo(f"Public key written to {public}")


@command("sign")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), help="PEM private key.")
@click.option("--password-env", default=None, help="The variable holding the key's password.")
@click.option("-a", "--annotation", "annotations", multiple=True, help="KEY=VALUE signed with the image.")
@registry_flags
@click.argument("image")
def sign_cmd(key: str, password_env: str | None, annotations: tuple[str, ...], tls_verify: bool | None,
             creds: str | None, authfile: str | None, cert_dir: str | None, image: str) -> None:
    """Sign IMAGE (docker://REGISTRY/REPO:TAG) as cosign does: a .sig image beside it."""
    import pybuild

    digest = pybuild.sign(image, key, annotations=annotations, password_env=password_env,
                          **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(f"Pushing signature of {digest}")


@command("verify")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), help="PEM public key.")
@registry_flags
@click.argument("image")
def verify_cmd(key: str, tls_verify: bool | None, creds: str | None, authfile: str | None, cert_dir: str | None,
               image: str) -> None:
    """Check IMAGE's cosign signatures against a public key; print the verified payloads."""
    import pybuild

    found = pybuild.verify(image, key, **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(f"Verification for {image.removeprefix('docker://')} --", err=True)
    click.echo("  - the signatures were verified against the specified public key", err=True)
    click.echo(json.dumps(found))


@command("attest")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), help="PEM private key.")
@click.option("--password-env", default=None, help="The variable holding the key's password.")
@click.option("--predicate", required=True, type=click.Path(dir_okay=False),
              help="The predicate file (an SBOM, a provenance document, any text for --type custom).")
@click.option("--type", "type_", default="custom", show_default=True,
              help="spdx | spdxjson | cyclonedx | slsaprovenance | slsaprovenance1 | link | vuln | custom, or a URI.")
@registry_flags
@click.argument("image")
def attest_cmd(key: str, password_env: str | None, predicate: str, type_: str, tls_verify: bool | None,
               creds: str | None, authfile: str | None, cert_dir: str | None, image: str) -> None:
    """Sign PREDICATE as an in-toto attestation of IMAGE, as cosign attest does (a .att image beside it)."""
    import pybuild

    digest = pybuild.attest(image, key, predicate, type_, password_env=password_env,
                            **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(f"Pushing attestation of {digest}")


@command("verify-attestation")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), help="PEM public key.")
@click.option("--type", "type_", default="custom", show_default=True, help="The predicate type to verify (as attest).")
@registry_flags
@click.argument("image")
def verify_attestation_cmd(key: str, type_: str, tls_verify: bool | None, creds: str | None, authfile: str | None,
                           cert_dir: str | None, image: str) -> None:
    """Check IMAGE's cosign attestations of --type against a public key; print the verified statements."""
    import pybuild

    found = pybuild.verify_attestation(image, key, type_, **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(f"Verification for {image.removeprefix('docker://')} --", err=True)
    click.echo("  - the attestations were verified against the specified public key", err=True)
    for statement in found:
        click.echo(json.dumps(statement, separators=(",", ":")))
