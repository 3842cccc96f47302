"""Working-container verbs, spelled as buildah spells them: from, run, copy, add, config,
commit, mount, umount, containers, rm, rename, prune.

Each verb is a thin shell over pybuild.Store and pybuild.WorkingContainer. Output meant for scripts
(a container name, a mount path, an image ID) goes to stdout alone, so that
``ctr=$(pybuild from busybox)`` works; progress and warnings go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pybuild.cli.common import GlobalOptions, Renderer, pass_globals
from pybuild.cli.images import _registry_options, registry_flags
from pybuild.cli.pflag import OptionalValue, command
from pybuild.cli.refused import ROOTLESS, IsolationFlag, Refused
from pybuild.cli.resources import cgroupns_flag, resource_flags
from pybuild.cli.resources import values as resource_values
from pybuild.errors import ConfigError
from pybuild.events import STEP, Event


def _progress(quiet: bool = False) -> Any:
    """Events rendered on stderr; step headers dropped (the user typed the step)."""
    renderer = Renderer("quiet" if quiet else "auto", out=sys.stderr, err=sys.stderr)

    def on_event(event: Event) -> None:
        if event.kind != STEP and not (event.kind == "info" and event.data.get("op") == "from"):
            renderer(event)

    return on_event


@command("from")
@click.option("--name", default=None, help="Name of the working container (default IMAGE-working-container).")
@click.option("--pull", cls=OptionalValue, bare="true", default="missing", metavar="[=POLICY]",
              help="always | missing | never (also true/false); --pull alone: true (always).")
@click.option("--pull-always", is_flag=True, help="Same as --pull=always.")
@click.option("--pull-never", is_flag=True, help="Same as --pull=never.")
@click.option("-q", "--quiet", is_flag=True, help="No pull progress.")
@click.option("--cidfile", default=None, help="Write the container's ID to this file.")
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] to pick from an index when pulling.")
@click.option("--arch", default=None, help="ARCH to pick from an index when pulling.")
@click.option("--os", "os_", default=None, help="OS to pick from an index when pulling.")
@click.option("--variant", default=None, help="Architecture variant to pick from an index when pulling.")
@click.option("--isolation", cls=IsolationFlag, allow=("chroot", "oci"), reason=ROOTLESS, envvar="BUILDAH_ISOLATION",
              type=click.Choice(["chroot", "oci", "rootless"]), default=None, help="Isolation of later runs.")
@click.option("--network", "--net", "network", default=None, help="private | host | none | ns:PATH | slirp4netns[:OPTIONS], for later runs (default: private where it can be set up).")
@click.option("--cap-add", multiple=True, help="Capability later runs get.")
@click.option("--cap-drop", multiple=True, help="Capability later runs lose.")
@click.option("-v", "--volume", "volumes", multiple=True, help="SRC:DST[:ro] bind mount for later runs.")
@click.option("--add-host", "add_hosts", multiple=True, help="NAME:IP in /etc/hosts of later runs.")
@click.option("--dns", "dns", multiple=True, help="Nameserver for later runs' /etc/resolv.conf; none: no resolv.conf is made.")
@click.option("--dns-search", "dns_search", multiple=True, help="Search domain for later runs' /etc/resolv.conf.")
@click.option("--dns-option", "dns_options", multiple=True, help="Resolver option for later runs' /etc/resolv.conf.")
@click.option("--security-opt", "security_opts", multiple=True,
              help="seccomp=unconfined|FILE, no-new-privileges, apparmor=unconfined, label=disable (every run).")
@resource_flags
@registry_flags
@click.argument("image")
@pass_globals
def from_cmd(opts: GlobalOptions, name: str | None, pull: str, pull_always: bool, pull_never: bool, quiet: bool,
             cidfile: str | None, platform: str | None, arch: str | None, os_: str | None, variant: str | None,
             isolation: str | None, network: str | None, cap_add: tuple[str, ...], cap_drop: tuple[str, ...],
             volumes: tuple[str, ...], add_hosts: tuple[str, ...], dns: tuple[str, ...], dns_search: tuple[str, ...],
             dns_options: tuple[str, ...], security_opts: tuple[str, ...], tls_verify: bool | None, creds: str | None, authfile: str | None, cert_dir: str | None,
             image: str) -> None:
    """Create a working container from IMAGE (or scratch); prints its name."""
    import pybuild

    policy = "always" if pull_always else "never" if pull_never else pull
    run_defaults = {"isolation": isolation, "network": network, "cap_add": cap_add, "cap_drop": cap_drop,
                    "volumes": volumes, "add_hosts": add_hosts, "dns": dns, "dns_search": dns_search,
                    "dns_options": dns_options, "resources": resource_values()}
    ctr = opts.open_store().from_image(image, name=name, pull=policy, cidfile=cidfile, run_defaults=run_defaults,
                                       security_opts=security_opts, on_event=_progress(quiet),
                                       platform=pybuild.platform_of(platform, os_, arch, variant),
                                       **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(ctr.name)


@command("run", context_settings={"allow_interspersed_args": False})
@click.option("--isolation", cls=IsolationFlag, allow=("chroot", "oci"), reason=ROOTLESS, envvar="BUILDAH_ISOLATION",
              type=click.Choice(["chroot", "oci", "rootless"]), default=None,
              help="chroot | oci (default: $BUILDAH_ISOLATION, $PYBUILD_ISOLATION, else chroot)")
@click.option("--network", "--net", "network", default=None, help="private | host | none | ns:PATH | slirp4netns[:OPTIONS] (default: from's, else private where it can be set up)")
@click.option("-u", "--user", default=None, help="USER[:GROUP] to run as (default: the image's User).")
@click.option("--workingdir", default=None, help="Directory to run in (default: the image's WorkingDir).")
@click.option("-e", "--env", "env", multiple=True, help="KEY=VALUE added to the environment.")
@click.option("--mount", "mounts", multiple=True,
              help="type=bind,src=HOST,dst=PATH[,ro] | type=tmpfs,dst=PATH | type=cache,dst=PATH[,id=ID]")
@click.option("-v", "--volume", "volumes", multiple=True, help="SRC:DST[:ro] bind mount.")
@click.option("--cap-add", multiple=True)
@click.option("--cap-drop", multiple=True)
@click.option("--add-host", "add_hosts", multiple=True, help="NAME:IP for /etc/hosts.")
@click.option("--no-hosts", is_flag=True, default=False, help="Leave the container's own /etc/hosts (none is made).")
@click.option("--hostname", default=None)
@click.option("--security-opt", "security_opts", multiple=True,
              help="seccomp=unconfined|FILE, no-new-privileges, ... (after those given to from).")
@click.option("-t", "--terminal", cls=Refused, is_flag=True, default=False, expose_value=False,
              reason="pybuild run has no pseudo-terminal yet (the command's output is a pipe)",
              help="Not supported yet: refused.")
@click.option("--runtime", default=None, metavar="PATH", help="OCI runtime (default runc); means --isolation oci.")
@cgroupns_flag
@click.argument("container")
@click.argument("command", nargs=-1, required=True)
@pass_globals
def run_cmd(opts: GlobalOptions, isolation: str | None, network: str | None, user: str | None, workingdir: str | None,
            env: tuple[str, ...], mounts: tuple[str, ...], volumes: tuple[str, ...], cap_add: tuple[str, ...],
            cap_drop: tuple[str, ...], add_hosts: tuple[str, ...], no_hosts: bool, hostname: str | None,
            security_opts: tuple[str, ...], runtime: str | None, container: str,
            command: tuple[str, ...]) -> None:
    """Run COMMAND in CONTAINER (use -- before it); exits with the command's status."""
    import pybuild

    isolation, runtime = pybuild.choose_runtime(isolation, runtime)  # before the container: a bad flag first
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    ctr = opts.open_store().container(container)
    out = sys.stdout.buffer

    def output(chunk: bytes) -> None:
        out.write(chunk)
        out.flush()

    status = ctr.run(argv, env=list(env), user=user, workdir=workingdir, isolation=isolation, network=network,
                     volumes=volumes, mounts=mounts, cap_add=cap_add, cap_drop=cap_drop, add_hosts=add_hosts,
                     no_hosts=no_hosts, hostname=hostname, security_opts=security_opts, stdin=True, output=output,
                     check=False, runtime=runtime, resources=resource_values(), on_event=_progress())
    if status != 0:
        sys.exit(status)


def _copy_verb(add: bool) -> click.Command:
    verb = "add" if add else "copy"

    def add_only(f: Any) -> Any:  # copy fetches no URL, so it has no checksum to check
        return click.option("--checksum", default=None, help="sha256:HEX a URL's content must match.")(f) if add else f

    @command(verb)
    @click.option("--chown", default=None, help="USER[:GROUP] owning the copied files (default root).")
    @click.option("--chmod", default=None, help="Mode of the copied files (octal or u+x style).")
    @click.option("--from", "from_", default=None, help="Copy from this working container or image.")
    @add_only
    @click.option("-q", "--quiet", is_flag=True, help="No progress output.")
    @click.argument("container")
    @click.argument("paths", nargs=-1, required=True)
    @pass_globals
    def verb_cmd(opts: GlobalOptions, chown: str | None, chmod: str | None, from_: str | None, quiet: bool,
                 container: str, paths: tuple[str, ...], checksum: str | None = None) -> None:
        if len(paths) < 2:
            raise ConfigError(f"{verb} needs CONTAINER SRC... DEST")
        ctr = opts.open_store().container(container)
        if add:
            ctr.add(list(paths[:-1]), paths[-1], chown=chown, chmod=chmod, checksum=checksum, from_=from_,
                    on_event=_progress(quiet))
        else:
            ctr.copy(list(paths[:-1]), paths[-1], chown=chown, chmod=chmod, from_=from_, on_event=_progress(quiet))

    verb_cmd.help = ("Copy host files (URLs and unpacked local archives too) into CONTAINER at DEST."
                    if add else "Copy host files (or, with --from, another container's or image's) "
                                "into CONTAINER at DEST.")
    return verb_cmd


copy_cmd = _copy_verb(add=False)
add_cmd = _copy_verb(add=True)


@command("config")
@click.option("--cmd", default=None, help="Default command: a JSON array, or shell words.")
@click.option("--entrypoint", default=None, help="A JSON array, or a string run by /bin/sh -c.")
@click.option("-e", "--env", "env", multiple=True, help="KEY=VALUE (KEY- removes it).")
@click.option("-l", "--label", "labels", multiple=True, help="KEY=VALUE (KEY- removes it).")
@click.option("-a", "--annotation", "annotations", multiple=True, help="KEY=VALUE (KEY- removes it).")
@click.option("-u", "--user", default=None)
@click.option("--workingdir", default=None)
@click.option("-p", "--port", "ports", multiple=True, help="PORT[/PROTO] to expose (PORT- removes it).")
@click.option("-v", "--volume", "volumes", multiple=True, help="A volume path (PATH- removes it).")
@click.option("--shell", default=None, help="Shell for shell-form commands (docker format only).")
@click.option("--stop-signal", default=None)
@click.option("--healthcheck", default=None, help="'CMD ...', 'CMD-SHELL ...' or NONE (docker format only).")
@click.option("--healthcheck-interval", default=None)
@click.option("--healthcheck-timeout", default=None)
@click.option("--healthcheck-start-period", default=None)
@click.option("--healthcheck-start-interval", default=None)
@click.option("--healthcheck-retries", type=int, default=None)
@click.option("--onbuild", multiple=True, help="A trigger instruction (docker format only).")
@click.option("--author", default=None)
@click.option("--created-by", default=None, help="The history entry's created_by at the next commit.")
@click.option("--comment", default=None, help="The history entry's comment at the next commit.")
@click.option("--arch", default=None)
@click.option("--os", "os_", default=None)
@click.option("--variant", default=None)
@click.argument("container")
@pass_globals
def config_cmd(opts: GlobalOptions, cmd: str | None, entrypoint: str | None, env: tuple[str, ...],
               labels: tuple[str, ...], annotations: tuple[str, ...], user: str | None, workingdir: str | None,
               ports: tuple[str, ...], volumes: tuple[str, ...], shell: str | None, stop_signal: str | None,
               healthcheck: str | None, healthcheck_interval: str | None, healthcheck_timeout: str | None,
               healthcheck_start_period: str | None, healthcheck_start_interval: str | None,
               healthcheck_retries: int | None, onbuild: tuple[str, ...], author: str | None,
               created_by: str | None, comment: str | None, arch: str | None, os_: str | None,
               variant: str | None, container: str) -> None:
    """Change the image configuration CONTAINER will be committed with."""
    opts.open_store().container(container).config(
        cmd=cmd, entrypoint=entrypoint, env=env, labels=labels, annotations=annotations,
        user=user, workdir=workingdir, ports=ports, volumes=volumes, shell=shell,
        stop_signal=stop_signal, healthcheck=healthcheck, healthcheck_interval=healthcheck_interval,
        healthcheck_timeout=healthcheck_timeout, healthcheck_start_period=healthcheck_start_period,
        healthcheck_start_interval=healthcheck_start_interval, healthcheck_retries=healthcheck_retries,
        onbuild=onbuild, author=author, created_by=created_by, comment=comment, arch=arch, os=os_,
        variant=variant)


@command("commit")
@click.option("-f", "--format", "format_", default=None, help="oci | docker (default oci, or $BUILDAH_FORMAT).")
@click.option("--squash", is_flag=True, help="Merge every layer into one.")
@click.option("--timestamp", type=int, default=None, help="Created time and new files' mtimes (seconds).")
@click.option("--rm", is_flag=True, help="Remove the working container after committing.")
@click.option("--iidfile", default=None, help="Write the image ID to this file.")
@click.option("--manifest", default=None, help="Add the image to this manifest list (created if absent).")
@click.option("--unsetenv", multiple=True, help="Leave this variable out of the image's Env.")
@click.option("--omit-history", is_flag=True, help="Write no history into the image's config.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@registry_flags
@click.argument("container")
@click.argument("image", required=False)
@pass_globals
def commit_cmd(opts: GlobalOptions, format_: str | None, squash: bool, timestamp: int | None, rm: bool,
               iidfile: str | None, manifest: str | None, unsetenv: tuple[str, ...], omit_history: bool,
               quiet: bool, tls_verify: bool | None, creds: str | None,
               authfile: str | None, cert_dir: str | None, container: str, image: str | None) -> None:
    """Write CONTAINER's changes and config as an image (named IMAGE); prints the image ID."""
    import pybuild

    fmt = pybuild.commit_format(format_)  # before the container: a bad flag first
    img = opts.open_store().container(container).commit(
        image, format=fmt, squash=squash, timestamp=timestamp, rm=rm, iidfile=iidfile, manifest=manifest,
        unsetenv=unsetenv, omit_history=omit_history, on_event=_progress(quiet),
        **_registry_options(tls_verify, creds, authfile, cert_dir))
    click.echo(img.id)


@command("mount")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("containers", nargs=-1)
@pass_globals
def mount_cmd(opts: GlobalOptions, as_json: bool, containers: tuple[str, ...]) -> None:
    """Mount each CONTAINER's root filesystem and print where; without names, list mounted ones."""
    store = opts.open_store()
    rows: list[tuple[str, str]] = []
    if containers:
        for ref in containers:
            ctr = store.container(ref)
            rows.append((ctr.name or ctr.id, str(ctr.mount())))
    else:
        rows = [(ctr.name or ctr.id, str(ctr.mountpoint)) for ctr in store.containers() if ctr.mountpoint]
    if as_json:
        click.echo(json.dumps([{"container": n, "mountPoint": p} for n, p in rows], indent=4))
    elif len(containers) == 1:
        click.echo(rows[0][1])
    else:
        for n, p in rows:
            click.echo(f"{n} {p}")


@command("umount")
@click.option("-a", "--all", "all_", is_flag=True, help="Unmount every working container.")
@click.argument("containers", nargs=-1)
@pass_globals
def umount_cmd(opts: GlobalOptions, all_: bool, containers: tuple[str, ...]) -> None:
    """Unmount each CONTAINER's root filesystem; prints their IDs."""
    store = opts.open_store()
    if not all_ and not containers:
        raise ConfigError("umount needs a container name or ID (or --all)")
    targets = store.containers() if all_ else [store.container(c) for c in containers]
    for ctr in targets:
        ctr.unmount()
        click.echo(ctr.id)


@command("containers")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print only container IDs.")
@click.option("-n", "--noheading", is_flag=True, help="No header line.")
@click.option("--notruncate", "--no-trunc", "no_trunc", is_flag=True, help="Print full IDs.")
@click.option("-a", "--all", "all_", is_flag=True, help="Also the containers builds make for themselves.")
@pass_globals
def containers_cmd(opts: GlobalOptions, as_json: bool, quiet: bool, noheading: bool, no_trunc: bool,
                   all_: bool) -> None:
    """List working containers."""
    found = opts.open_store().containers(all=all_)
    if as_json:
        click.echo(json.dumps([ctr.describe() for ctr in found], indent=4))
        return
    if quiet:
        for ctr in found:
            click.echo(ctr.id if no_trunc else ctr.id[:12])
        return
    rows = [] if noheading else [("CONTAINER ID", "BUILDER", "IMAGE ID", "IMAGE NAME", "CONTAINER NAME")]
    for ctr in found:
        d = ctr.describe()
        cut = (lambda s: s) if no_trunc else (lambda s: s[:12])
        rows.append((cut(d["id"]), "*", cut(d["imageid"]), d["imagename"] or "scratch", d["containername"]))
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(r[i].ljust(widths[i]) for i in range(5)).rstrip())


@command("rm")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every working container.")
@click.argument("containers", nargs=-1)
@pass_globals
def rm_cmd(opts: GlobalOptions, all_: bool, containers: tuple[str, ...]) -> None:
    """Remove working containers (unmounting them first); prints their IDs."""
    store = opts.open_store()
    if all_:
        targets = store.containers()
    elif containers:
        targets = [store.container(c) for c in containers]
    else:
        raise ConfigError("rm needs a container name or ID (or --all)")
    for ctr in targets:
        ctr.remove()
        click.echo(ctr.id)
    if all_:
        store.remove_dead_build_containers()  # and what dead builds left behind


@command("rename")
@click.argument("container")
@click.argument("new_name")
@pass_globals
def rename_cmd(opts: GlobalOptions, container: str, new_name: str) -> None:
    """Give a working container a new name."""
    opts.open_store().container(container).rename(new_name)


@command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Also remove named images no container uses.")
@click.option("-f", "--force", is_flag=True, help="Also remove the working containers using the images pruned.")
@pass_globals
def prune_cmd(opts: GlobalOptions, all_: bool, force: bool) -> None:
    """Remove dangling images, the build cache, and layers and blobs nothing uses."""
    from pybuild.cli.progress import human_size

    report = opts.open_store().prune(all_images=all_, force=force)
    for image_id in report.images:
        click.echo(image_id)
    click.echo(f"Total reclaimed space: {human_size(report.freed_bytes)}", err=True)
