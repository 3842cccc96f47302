"""`pybuild version` and `pybuild info`."""

from __future__ import annotations

import json
import platform

import click

from pybuild.cli.common import GlobalOptions, pass_globals
from pybuild.cli.pflag import command


@command("version")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def version_cmd(as_json: bool) -> None:
    """Print pybuild's version and the platform it runs on."""
    from pybuild import __version__

    if as_json:
        click.echo(json.dumps({"version": __version__, "pythonVersion": platform.python_version(),
                               "osArch": f"linux/{_arch()}"}, indent=4))
        return
    click.echo(f"Version:         {__version__}")
    click.echo(f"Python Version:  {platform.python_version()}")
    click.echo(f"OS/Arch:         linux/{_arch()}")


def _arch() -> str:
    import pybuild

    return pybuild.host_architecture()


@command("info")
@pass_globals
def info_cmd(opts: GlobalOptions) -> None:
    """Print the host and store configuration as JSON."""
    import pybuild

    click.echo(json.dumps(pybuild.system_info(opts.root, opts.open_store), indent=2))
