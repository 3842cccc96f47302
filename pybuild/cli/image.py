"""`pybuild image inspect|copy|list-tags`: skopeo's everyday verbs, on any transport.

A group of their own because buildah's `copy` and `inspect` act on working containers
and the local store; these act on images where they are (a registry, an OCI layout, an
archive) and never land them in the store. A bare reference means ``docker://REF``.
"""

from __future__ import annotations

import json
from typing import Any

import click

from pybuild.cli.common import Renderer
from pybuild.cli.pflag import group


def _opts(tls_verify: bool | None, creds: str | None, authfile: str | None, cert_dir: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"tls_verify": tls_verify, "creds": creds or None, "authfile": authfile,
                           "cert_dir": cert_dir}
    return {k: v for k, v in out.items() if v is not None}


def _tls_option(name: str, help: str) -> Any:
    # --tls-verify, --tls-verify=false: the spelling of skopeo and buildah (pybuild.cli.pflag)
    return click.option(name, is_flag=True, default=None, help=help)


@group("image")
def image_group() -> None:
    """Inspect, copy and list images in registries, layouts and archives (skopeo's verbs)."""


# --- inspect -----------------------------------------------------------------------------------


@image_group.command("inspect")
@click.option("--raw", is_flag=True, help="The manifest (or index) bytes exactly as stored.")
@click.option("--config", "config", is_flag=True, help="The image configuration instead of the summary.")
@click.option("-n", "--no-tags", is_flag=True, help="Do not list the repository's tags.")
@click.option("--attestations", is_flag=True, help="The attestations the image's index carries (in-toto statements).")
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] to pick from an index (default: this host).")
@click.option("--override-arch", default=None, help="Architecture to pick from an index.")
@click.option("--override-os", default=None, help="OS to pick from an index.")
@_tls_option("--tls-verify", "Verify TLS certificates (default: true, except for localhost).")
@click.option("--creds", default=None, help="USER[:PASSWORD] for the registry.")
@click.option("--authfile", type=click.Path(), default=None, help="Credentials file (auth.json).")
@click.option("--cert-dir", type=click.Path(), default=None, help="CA and client certificates.")
@click.argument("ref")
def inspect_cmd(raw: bool, config: bool, no_tags: bool, attestations: bool, platform: str | None, override_arch: str | None,
                override_os: str | None, tls_verify: bool | None, creds: str | None, authfile: str | None,
                cert_dir: str | None, ref: str) -> None:
    """Show an image's manifest and config without pulling its layers (REF: docker://..., oci:...)."""
    import sys

    import pybuild

    options = _opts(tls_verify, creds, authfile, cert_dir)
    if override_arch or override_os:
        platform = f"{override_os or 'linux'}/{override_arch or pybuild.host_architecture()}"
    if attestations:
        click.echo(json.dumps(pybuild.attestations(pybuild.remote_spec(ref), **options), indent=4))
        return
    if raw:
        data = pybuild.fetch_config(ref, platform=platform, **options) if config else \
            pybuild.fetch_manifest(ref, **options)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    info = pybuild.inspect_remote(ref, platform=platform, tags=not no_tags, config=config, **options)
    click.echo(json.dumps(info, indent=4))


# --- copy --------------------------------------------------------------------------------------


@image_group.command("copy")
@click.option("-f", "--format", "format_", type=click.Choice(["oci", "docker", "v2s2"]), default=None,
              help="Manifest format of the copy (default: as the source).")
@click.option("--dest-compress-format", "--compression-format", "compression",
              type=click.Choice(["gzip", "zstd"]), default=None, help="Recompress layers (default: keep).")
@click.option("-a", "--all", "all_", is_flag=True, help="Copy every platform of an index, and the index.")
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] to pick from an index (default: this host).")
@_tls_option("--src-tls-verify", "Verify the source registry's TLS certificate.")
@_tls_option("--dest-tls-verify", "Verify the destination registry's TLS certificate.")
@click.option("--src-creds", default=None, help="USER[:PASSWORD] for the source registry.")
@click.option("--dest-creds", default=None, help="USER[:PASSWORD] for the destination registry.")
@click.option("--authfile", type=click.Path(), default=None, help="Credentials file for both ends.")
@click.option("--src-authfile", type=click.Path(), default=None, help="Credentials file for the source.")
@click.option("--dest-authfile", type=click.Path(), default=None, help="Credentials file for the destination.")
@click.option("--src-cert-dir", type=click.Path(), default=None, help="Certificates for the source registry.")
@click.option("--dest-cert-dir", type=click.Path(), default=None, help="Certificates for the destination.")
@click.option("--digestfile", type=click.Path(), default=None, help="Write the digest of the copy here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.argument("source")
@click.argument("destination")
def copy_cmd(format_: str | None, compression: str | None, all_: bool, platform: str | None,
             src_tls_verify: bool | None, dest_tls_verify: bool | None, src_creds: str | None,
             dest_creds: str | None, authfile: str | None, src_authfile: str | None, dest_authfile: str | None,
             src_cert_dir: str | None, dest_cert_dir: str | None, digestfile: str | None, quiet: bool,
             source: str, destination: str) -> None:
    """Copy an image between any two transports (registry to registry streams, no store)."""
    import pybuild

    renderer = Renderer("quiet" if quiet else "auto")
    # on_event goes to copy_image only: the registry destination would report each blob again
    digest = pybuild.copy(source, destination,
                          source_options=_opts(src_tls_verify, src_creds, src_authfile or authfile, src_cert_dir),
                          destination_options=_opts(dest_tls_verify, dest_creds, dest_authfile or authfile,
                                                    dest_cert_dir),
                          platform=platform, all_platforms=all_, format=format_, compression=compression,
                          on_event=renderer)
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(str(digest))


# --- list-tags ---------------------------------------------------------------------------------


@image_group.command("list-tags")
@_tls_option("--tls-verify", "Verify TLS certificates (default: true, except for localhost).")
@click.option("--creds", default=None, help="USER[:PASSWORD] for the registry.")
@click.option("--authfile", type=click.Path(), default=None, help="Credentials file (auth.json).")
@click.option("--cert-dir", type=click.Path(), default=None, help="CA and client certificates.")
@click.option("--page-size", type=click.IntRange(min=1), default=None,
              help="Tags to ask for per page (default: the registry's choice).")
@click.argument("repository")
def list_tags_cmd(tls_verify: bool | None, creds: str | None, authfile: str | None, cert_dir: str | None,
                  page_size: int | None, repository: str) -> None:
    """Every tag of a repository, all pages (docker://REGISTRY/REPO)."""
    import pybuild

    tags = pybuild.list_tags(repository, page_size=page_size, **_opts(tls_verify, creds, authfile, cert_dir))
    click.echo(json.dumps(tags, indent=4))
