"""`pybuild login` and `pybuild logout`."""

from __future__ import annotations

import sys

import click

from pybuild.cli.pflag import command


@command("login")
@click.option("-u", "--username", default=None, help="Registry user name.")
@click.option("-p", "--password", default=None, help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--authfile", default=None, help="Auth file to write (default: $REGISTRY_AUTH_FILE or podman's).")
@click.option("--tls-verify", "tls_verify", is_flag=True, default=None,
              help="Require HTTPS and verify certificates (default: yes, except loopback).")
@click.option("--cert-dir", default=None, help="Directory of *.crt CAs and *.cert/*.key client certificates.")
@click.option("--get-login", is_flag=True, help="Print the user name stored for REGISTRY and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Also say which auth file was written.")
@click.argument("registry")
def login_cmd(username: str | None, password: str | None, password_stdin: bool, authfile: str | None,
              tls_verify: bool | None, cert_dir: str | None, get_login: bool, verbose: bool, registry: str) -> None:
    """Log in to REGISTRY: check the credentials, then store them."""
    import pybuild

    if get_login:
        click.echo(pybuild.stored_username(registry, authfile=authfile))
        return
    if password is not None and password_stdin:
        raise click.UsageError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise click.UsageError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    written = pybuild.login(registry, username or "", password or "", tls_verify=tls_verify, authfile=authfile,
                            cert_dir=cert_dir)
    if verbose:
        click.echo(f"Used: {written}")
    click.echo("Login Succeeded!")


@command("logout")
@click.option("--authfile", default=None, help="Auth file to edit.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove the credentials of every registry.")
@click.argument("registry", required=False)
def logout_cmd(authfile: str | None, all_: bool, registry: str | None) -> None:
    """Remove the stored credentials of REGISTRY (or of all registries with --all)."""
    import pybuild

    pybuild.logout(registry, all=all_, authfile=authfile)
    click.echo(f"Removed login credentials for {'all registries' if all_ else registry}")
