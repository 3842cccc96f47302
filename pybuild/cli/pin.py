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
    import pybuild
    from pybuild.errors import UserError

    path = Path(file_) if file_ else pybuild.find_containerfile(context)
    if path is None:
        raise UserError(f"no Containerfile or Dockerfile in {context}; use -f")
    pins = pybuild.pin(path, store=opts.open_store(), write=not dry_run,
                       **_registry_options(tls_verify, creds, authfile, cert_dir))
    for pin in pins:
        if pin.pinned:
            click.echo(f"{pin.image} -> {pin.pinned}")
        else:
            click.echo(f"{pin.image}: not pinned ({pin.reason})", err=True)
