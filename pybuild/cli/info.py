"""`pybuild version` and `pybuild info`."""

from __future__ import annotations

import json
import platform
import sys

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
    from pybuild.oci.platform_host import host_platform

    return host_platform().architecture


@command("info")
@pass_globals
def info_cmd(opts: GlobalOptions) -> None:
    """Print the host and store configuration as JSON."""
    from pybuild import __version__
    from pybuild.oci.platform_host import host_platform, runnable_platforms

    store: dict[str, object] = {"GraphRoot": opts.root}
    try:  # first: an ordinary user's opens pybuild's user namespace, where the rest is probed
        s = opts.open_store()
        store.update(s.info())
    except Exception as e:  # noqa: BLE001 - info must print what it can
        store["Error"] = str(e)
    isolation = "unknown"
    try:
        from pybuild.builder.sandbox import default_isolation

        isolation = default_isolation()
    except ImportError:
        pass
    import pybuild
    from pybuild.builder.sandbox.network import describe_default

    network = describe_default()
    hp = host_platform()
    out = {
        "host": {"os": "linux", "arch": hp.architecture, "variant": hp.variant or "",
                 "kernel": platform.release(), "python": sys.version.split()[0],
                 "DefaultIsolation": isolation, **network, **pybuild.describe_rootless(),
                 # what bud --platform can build RUN steps for: native, or a binfmt_misc handler (F flag)
                 "platforms": runnable_platforms()},
        "store": store,
        "version": __version__,
    }
    click.echo(json.dumps(out, indent=2))
