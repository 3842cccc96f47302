"""`pybuild unshare [COMMAND...]`: a shell or command in pybuild's user namespace (buildah's)."""

from __future__ import annotations

import click

from pybuild.cli.pflag import command


@command("unshare", context_settings={"allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def unshare_cmd(argv: tuple[str, ...]) -> None:
    """Run COMMAND (default $SHELL) as uid 0 of the user namespace rootless builds use."""
    import pybuild

    pybuild.exec_in_user_namespace(list(argv))
