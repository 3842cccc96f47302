"""`pybuild pin`: rewrite a Containerfile's FROM images to digests (reproducible bases)."""

from __future__ import annotations

from pathlib import Path

import click

from pybuild.cli.common import GlobalOptions, pass_globals
from pybuild.cli.images import _registry_options, registry_flags
from pybuild.cli.pflag import command


@command("pin")
@click.option("-f", "--file", "file_", default=None, help="Containerfile (default: CONTEXT/Containerfile).")
@click.option("--dry-run", is_flag=True, help="Print the pins, do not rewrite the file.")
@registry_flags
@click.argument("context", default=".")
@pass_globals
def pin_cmd(opts: GlobalOptions, file_: str | None, dry_run: bool, tls_verify: bool | None, creds: str | None,
            authfile: str | None, cert_dir: str | None, context: str) -> None:
    """Pin every FROM image to the digest it has now: the local store's copy when it came
    from a registry, else the registry's."""
    from pybuild.builder.pin import pin_file
    from pybuild.errors import PybuildError, UserError

    path = Path(file_) if file_ else next((Path(context) / n for n in ("Containerfile", "Dockerfile")
                                           if (Path(context) / n).is_file()), None)
    if path is None:
        raise UserError(f"no Containerfile or Dockerfile in {context}; use -f")
    store = opts.open_store()
    registry = _registry_options(tls_verify, creds, authfile, cert_dir)

    def resolve(image: str) -> str | None:
        local = store.find_image(image)
        if local is not None and local.manifest:
            return str(local.manifest["digest"])
        try:
            from pybuild.oci.registry.options import from_keywords
            from pybuild.oci.registry.transport import inspect

            return str(inspect(image, from_keywords(None, registry))["digest"])
        except PybuildError:
            return None

    for pin in pin_file(path, resolve, write=not dry_run):
        if pin.pinned:
            click.echo(f"{pin.image} -> {pin.pinned}")
        else:
            click.echo(f"{pin.image}: not pinned ({pin.reason})", err=True)
