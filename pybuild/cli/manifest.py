"""`pybuild manifest create|add|inspect|push|remove|rm`: multi-platform lists, as buildah spells them.

The list lives in the local store (pybuild.manifest_create and its kin); its instances are
store images or images elsewhere (``docker://...``, ``oci:...``), fetched on push.
"""

from __future__ import annotations

import json
import sys

import click

from pybuild.cli.common import GlobalOptions, Renderer, pass_globals
from pybuild.cli.image import _opts, _tls_option
from pybuild.cli.images import _registry_options, registry_flags
from pybuild.cli.pflag import group


@group("manifest")
def manifest_group() -> None:
    """Create, fill, inspect and push manifest lists (multi-platform image indexes)."""


@manifest_group.command("create")
@click.option("--all", "all_", is_flag=True, help="Add every platform of the IMAGEs that are indexes.")
@click.option("--amend", is_flag=True, help="Reuse the list if it exists already.")
@registry_flags
@click.argument("name")
@click.argument("images", nargs=-1)
@pass_globals
def create_cmd(opts: GlobalOptions, all_: bool, amend: bool, tls_verify: bool | None, creds: str | None,
               authfile: str | None, cert_dir: str | None, name: str, images: tuple[str, ...]) -> None:
    """Create the manifest list NAME in the local store, with IMAGEs in it."""
    import pybuild

    digest = pybuild.manifest_create(name, images, store=opts.open_store(), all_platforms=all_, amend=amend,
                                     **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(digest.hex)


@manifest_group.command("add")
@click.option("--arch", default=None, help="Architecture to record (default: the image's).")
@click.option("--os", "os_", default=None, help="OS to record (default: the image's).")
@click.option("--variant", default=None, help="Architecture variant to record.")
@click.option("--annotation", "annotations", multiple=True, help="KEY=VALUE on the list's entry.")
@click.option("--all", "all_", is_flag=True, help="Add every platform when IMAGE is an index.")
@registry_flags
@click.argument("name")
@click.argument("image")
@pass_globals
def add_cmd(opts: GlobalOptions, arch: str | None, os_: str | None, variant: str | None,
            annotations: tuple[str, ...], all_: bool, tls_verify: bool | None, creds: str | None,
            authfile: str | None, cert_dir: str | None, name: str, image: str) -> None:
    """Add IMAGE (a local image, or a transport spec such as docker://REF) to the list NAME."""
    import pybuild

    digest, added = pybuild.manifest_add(name, image, store=opts.open_store(), arch=arch, os=os_, variant=variant,
                                         annotations=annotations, all_platforms=all_,
                                         **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(digest.hex)
    for d in added[1:]:
        click.echo(f"added {d}", err=True)


@manifest_group.command("annotate")
@click.option("--arch", default=None, help="Architecture to record for the instance.")
@click.option("--os", "os_", default=None, help="OS to record.")
@click.option("--variant", default=None, help="Architecture variant to record.")
@click.option("--os-version", default=None, help="OS version to record.")
@click.option("--os-features", multiple=True, help="OS features to record.")
@click.option("--features", multiple=True, help="Platform features (refused: OCI indexes have none).")
@click.option("--annotation", "annotations", multiple=True, help="KEY=VALUE on the list's entry.")
@click.argument("name")
@click.argument("image")
@pass_globals
def annotate_cmd(opts: GlobalOptions, arch: str | None, os_: str | None, variant: str | None, os_version: str | None,
                 os_features: tuple[str, ...], features: tuple[str, ...], annotations: tuple[str, ...], name: str,
                 image: str) -> None:
    """Change what the list NAME records for IMAGE (an instance's digest or a local image)."""
    import pybuild

    digest = pybuild.manifest_annotate(name, image, store=opts.open_store(), arch=arch, os=os_, variant=variant,
                                       os_version=os_version, os_features=os_features, features=features,
                                       annotations=annotations)
    click.echo(digest.hex)


@manifest_group.command("remove")
@click.argument("name")
@click.argument("digest")
@pass_globals
def remove_cmd(opts: GlobalOptions, name: str, digest: str) -> None:
    """Remove the instance DIGEST from the list NAME."""
    import pybuild

    click.echo(pybuild.manifest_remove(name, digest, store=opts.open_store()).hex)


@manifest_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@pass_globals
def rm_cmd(opts: GlobalOptions, names: tuple[str, ...]) -> None:
    """Delete manifest lists from the local store (their images stay)."""
    import pybuild

    store = opts.open_store()
    for name in names:
        click.echo(pybuild.manifest_delete(name, store=store))
    store.gc()


@manifest_group.command("inspect")
@_tls_option("--tls-verify", "Verify TLS certificates, for a list read from a registry.")
@click.option("--creds", default=None, help="USER[:PASSWORD], for a list read from a registry.")
@click.option("--authfile", type=click.Path(), default=None, help="Credentials file (auth.json).")
@click.option("--cert-dir", type=click.Path(), default=None, help="CA and client certificates.")
@click.argument("name")
@pass_globals
def inspect_cmd(opts: GlobalOptions, tls_verify: bool | None, creds: str | None, authfile: str | None,
                cert_dir: str | None, name: str) -> None:
    """Print the index of the list NAME (a local list, else the manifest at docker://NAME)."""
    import pybuild

    index = pybuild.manifest_inspect(name, store=opts.open_store(), **_opts(tls_verify, creds, authfile, cert_dir))
    click.echo(json.dumps(index, indent=4))


@manifest_group.command("push")
@click.option("--all", "all_", is_flag=True, default=True, show_default=True,
              help="Push the list's images too, not only the list (--all=false: the list alone).")
@click.option("-f", "--format", "format_", type=click.Choice(["oci", "docker", "v2s2"]), default=None,
              help="Manifest format (default: OCI).")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]), default=None,
              help="Recompress layers (default: keep).")
@click.option("--digestfile", type=click.Path(), default=None, help="Write the digest of the list here.")
@click.option("--rm", "remove", is_flag=True, help="Delete the local list after a successful push.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@registry_flags
@click.argument("name")
@click.argument("destination", required=False)
@pass_globals
def push_cmd(opts: GlobalOptions, all_: bool, format_: str | None, compression_format: str | None,
             digestfile: str | None, remove: bool, quiet: bool, tls_verify: bool | None, creds: str | None,
             authfile: str | None, cert_dir: str | None, name: str, destination: str | None) -> None:
    """Push the list NAME (and its images) to DESTINATION (default docker://NAME)."""
    import pybuild

    store = opts.open_store()
    renderer = Renderer("quiet" if quiet else "auto")
    digest = pybuild.manifest_push(name, destination, store=store, all_instances=all_, format=format_,
                                   compression=compression_format, on_event=renderer,
                                   **_registry_options(tls_verify, creds, authfile, cert_dir))
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(str(digest))
    if remove:
        pybuild.manifest_delete(name, store=store)
    if not quiet:
        sys.stderr.flush()
    click.echo(str(digest))


@manifest_group.command("exists")
@click.argument("name")
@pass_globals
def exists_cmd(opts: GlobalOptions, name: str) -> None:
    """Exit 0 when the manifest list NAME is in the local store, 1 when it is not (buildah's)."""
    import pybuild

    if not pybuild.manifest_exists(name, store=opts.open_store()):
        sys.exit(1)
