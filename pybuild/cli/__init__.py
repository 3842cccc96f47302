"""The `pybuild` command line: click commands only, thin over the library.

Commands are loaded lazily (each lives in its own module and is imported
only when invoked) so that `pybuild --help` and every verb start fast.
Each command parses flags, calls the library, and renders its events; no
click type crosses into the library.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from pybuild import __version__
from pybuild.cli.common import GlobalOptions
from pybuild.cli.pflag import Group
from pybuild.cli.refused import Refused

# verb -> "module:attribute" (module relative to pybuild.cli). Add new verbs here.
COMMANDS: dict[str, str] = {
    "graph": "graph:graph_cmd",
    "version": "info:version_cmd",
    "info": "info:info_cmd",
    "pull": "images:pull_cmd",
    "push": "images:push_cmd",
    "images": "images:images_cmd",
    "import": "images:import_cmd",
    "tag": "images:tag_cmd",
    "rmi": "images:rmi_cmd",
    "inspect": "images:inspect_cmd",
    "bud": "bud:bud_cmd",
    "pin": "pin:pin_cmd",
    "sbom": "sbom:sbom_cmd",
    "sign": "sign:sign_cmd",
    "verify": "sign:verify_cmd",
    "generate-key-pair": "sign:generate_key_pair_cmd",
    "attest": "sign:attest_cmd",
    "verify-attestation": "sign:verify_attestation_cmd",
    "login": "login:login_cmd",
    "logout": "login:logout_cmd",
    "from": "containers:from_cmd",
    "run": "containers:run_cmd",
    "copy": "containers:copy_cmd",
    "add": "containers:add_cmd",
    "config": "containers:config_cmd",
    "commit": "containers:commit_cmd",
    "mount": "containers:mount_cmd",
    "umount": "containers:umount_cmd",
    "containers": "containers:containers_cmd",
    "rm": "containers:rm_cmd",
    "rename": "containers:rename_cmd",
    "prune": "containers:prune_cmd",
    "image": "image:image_group",
    "manifest": "manifest:manifest_group",
    "unshare": "unshare:unshare_cmd",
}
ALIASES = {"build": "bud"}


class LazyGroup(Group):
    """A click group that imports a command's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"pybuild.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(), default=None,
              help="Store root (default /var/lib/pybuild as root, else $XDG_DATA_HOME/pybuild; $PYBUILD_ROOT).")
@click.option("--runroot", cls=Refused, type=click.Path(), default=None, expose_value=False,
              reason="pybuild keeps its run state under --root (it has no separate run root)",
              help="Not supported: refused (run state lives under --root).")
@click.option("--storage-driver", type=click.Choice(["overlay", "vfs"]), default=None,
              help="How working containers are layered (default: overlay where the kernel allows).")
@click.option("--storage-opt", "storage_opts", multiple=True, metavar="overlay.mount_program=PATH",
              help="Storage option (containers/storage's; $STORAGE_OPTS): only overlay.mount_program, e.g. fuse-overlayfs.")
@click.option("--log-level", type=click.Choice(["trace", "debug", "info", "warn", "error", "fatal", "panic"]),
              default="warn", help="How much to log (buildah's levels); debug and trace also show tracebacks.")
@click.version_option(__version__, "-v", "--version", prog_name="pybuild")
@click.pass_context
def cli(ctx: click.Context, root: str | None, storage_driver: str | None, storage_opts: tuple[str, ...],
        log_level: str) -> None:
    """pybuild: build, store and move container images (buildah-style)."""
    ctx.obj = GlobalOptions(root_flag=root, storage_driver=storage_driver,
                            log_level=log_level, storage_opts=storage_opts)


def command_tree(group: click.Group | None = None,
                 path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command with its verb path (("manifest", "push"), ...), groups included, the root
    as (): what the flag tests and scripts/buildah-compat.py walk."""
    group = group or cli
    ctx = click.Context(group)
    yield path, group
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            yield from command_tree(sub, (*path, name))
        elif sub is not None:
            yield (*path, name), sub


# httpcore (under httpx) imports trio and anyio at import time whenever they are installed,
# only to pick locks for async clients: ~40-60 ms of every registry command's start-up. The
# command line uses httpx's sync client alone, so it marks them absent in its own process
# (the library, and callers of main(argv), leave sys.modules alone). Names already imported
# are kept.
_UNUSED_BY_CLI = ("trio", "anyio")


def _skip_async_backends() -> None:
    for name in _UNUSED_BY_CLI:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # `import name` -> ImportError


def _log_level(args: list[str]) -> str | None:
    """The --log-level the global flags give (read by click's own parser, wherever it stands
    among them), without running anything; None when they do not parse."""
    try:
        ctx = cli.make_context("pybuild", list(args), resilient_parsing=True)
    except click.exceptions.ClickException:
        return None
    level = ctx.params.get("log_level")
    return level if isinstance(level, str) else None


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning pybuild errors into one line and an exit status."""
    if argv is None:  # a real process (the console script, python -m pybuild), not a caller's
        _skip_async_backends()
    from pybuild.errors import PybuildError, StepFailed

    debug = _log_level(sys.argv[1:] if argv is None else argv) in ("debug", "trace")
    try:
        return cli.main(args=argv, prog_name="pybuild", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:  # a flag or argument mistake: one line, and buildah's status
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"Error: {e.format_message()}{where}", err=True)
        sys.exit(125)
    except click.ClickException as e:
        e.show()
        sys.exit(125 if e.exit_code == 1 else e.exit_code)
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    except OSError as e:
        from pybuild.errors import is_disk_full

        if not is_disk_full(e):
            raise
        click.echo(f"Error: cannot write {e.filename or 'to disk'}: {e.strerror}", err=True)  # one line, anywhere
        sys.exit(125)
    except PybuildError as e:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.status if isinstance(e, StepFailed) and 0 < e.status < 126 else 125)
