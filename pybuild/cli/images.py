"""Image verbs, spelled as buildah spells them: pull, push, images, tag, rmi, inspect."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from pybuild.cli.common import GlobalOptions, pass_globals, progress_option, renderer_for
from pybuild.cli.pflag import command
from pybuild.cli.progress import human_size
from pybuild.cli.refused import Refused


def _registry_options(tls_verify: bool | None, creds: str | None, authfile: str | None,
                      cert_dir: str | None) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if tls_verify is not None:
        opts["tls_verify"] = tls_verify
    if creds:
        opts["creds"] = creds
    if authfile:
        opts["authfile"] = authfile
    if cert_dir:
        opts["cert_dir"] = cert_dir
    opts.update(_retry_flags())
    return opts


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """--retry/--retry-delay travel in the context, so every verb's signature stays as it is."""
    if value is not None:
        ctx.meta[f"pybuild.{param.name}"] = value
    return value


def _retry_flags() -> Any:
    """--retry/--retry-delay as given (the library reads them: registry.options.from_keywords)."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    retries, delay = meta.get("pybuild.retry"), meta.get("pybuild.retry_delay")
    return {k: v for k, v in (("retry", retries), ("retry_delay", delay)) if v is not None}


def registry_flags(f: Any) -> Any:
    """--tls-verify, --creds, --authfile, --cert-dir, --retry, --retry-delay, shared by every
    verb that talks to registries."""
    f = click.option("--retry-delay", default=None, expose_value=False, callback=_remember,
                     help="Fixed delay between retries of a failed registry request, e.g. 2s "
                          "(default: 0.5s doubling).")(f)
    f = click.option("--retry", type=click.IntRange(min=0), default=None, expose_value=False, callback=_remember,
                     help="Retries of a failed registry request (default 3).")(f)
    f = click.option("--cert-dir", type=click.Path(), default=None, help="CA and client certificates.")(f)
    f = click.option("--authfile", type=click.Path(), default=None, help="Credentials file (auth.json).")(f)
    f = click.option("--creds", default=None, help="USER[:PASSWORD] for the registry.")(f)
    f = click.option("--tls-verify", "tls_verify", is_flag=True, default=None,
                     help="Verify TLS certificates: --tls-verify[=true|false] (default: true, except "
                          "for localhost).")(f)
    return f


@command("pull")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@progress_option
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] to pick from an index.")
@click.option("--arch", default=None, help="ARCH to pick from an index (with the host's OS, or --os).")
@click.option("--os", "os_", default=None, help="OS to pick from an index (with the host's ARCH, or --arch).")
@click.option("--variant", default=None, help="Architecture variant to pick from an index.")
@click.option("--policy", type=click.Choice(["always", "missing", "never"]), default="always", show_default=True,
              help="missing: keep an image of that name already in the store; never: only the store's.")
@click.option("-a", "--all-tags", cls=Refused, is_flag=True, default=False, expose_value=False,
              reason="pulling every tag of a repository is not supported (pull each tag by name)",
              help="Not supported: refused.")
@registry_flags
@click.argument("source")
@pass_globals
def pull_cmd(opts: GlobalOptions, quiet: bool, progress: str, platform: str | None, arch: str | None,
             os_: str | None, variant: str | None, policy: str, tls_verify: bool | None, creds: str | None,
             authfile: str | None, cert_dir: str | None, source: str) -> None:
    """Copy an image into the local store (docker://, oci:, oci-archive:, docker-archive:, dir:,
    containers-storage: -- podman's store)."""
    import pybuild

    image = pybuild.pull(source, store=opts.open_store(), platform=pybuild.platform_of(platform, os_, arch, variant),
                         policy=policy, on_event=renderer_for(progress, quiet),
                         **_registry_options(tls_verify, creds, authfile, cert_dir))
    if progress == "json" and not quiet:
        click.echo(json.dumps({"kind": "image", "message": image.id, "id": image.id, "names": image.names}))
    else:
        click.echo(image.id)


@command("push")
@click.option("-f", "--format", "format_", type=click.Choice(["oci", "docker", "v2s2"]), default=None,
              help="Manifest format (default: the image's own).")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]), default=None,
              help="Layer compression (default: gzip, or as pulled).")
@click.option("-D", "--disable-compression", is_flag=True, help="Do not compress layers.")
@click.option("--digestfile", type=click.Path(), default=None, help="Write the manifest digest here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@progress_option
@registry_flags
@click.argument("image")
@click.argument("destination", required=False)
@pass_globals
def push_cmd(opts: GlobalOptions, format_: str | None, compression_format: str | None, disable_compression: bool,
             digestfile: str | None, quiet: bool, progress: str, tls_verify: bool | None, creds: str | None,
             authfile: str | None, cert_dir: str | None, image: str, destination: str | None) -> None:
    """Copy an image (or a manifest list and its instances) from the local store to DESTINATION
    (any transport, containers-storage:NAME for podman; default docker://IMAGE)."""
    import pybuild

    digest = pybuild.push(image, destination, store=opts.open_store(), format=format_,
                          compression="none" if disable_compression else compression_format,
                          on_event=renderer_for(progress, quiet),
                          **_registry_options(tls_verify, creds, authfile, cert_dir))
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(str(digest))


@command("import")
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply an instruction to the image: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, "
                   "STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable).")
@click.option("-m", "--message", default="", help="Set commit message for imported image.")
@click.option("--arch", default=None, help="Set the architecture of the imported image.")
@click.option("--os", "os_", default=None, help="Set the OS of the imported image.")
@click.option("--variant", default=None, help="Set the variant of the imported image.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress output.")
@click.argument("path")
@click.argument("reference", required=False)
@pass_globals
def import_cmd(opts: GlobalOptions, changes: tuple[str, ...], message: str, arch: str | None, os_: str | None,
               variant: str | None, quiet: bool, path: str, reference: str | None) -> None:
    """Create an image from a root filesystem tarball (podman import): .tar, .tar.gz, .tgz,
    .tar.zst, .tar.bz2, .tar.xz; PATH - reads it from standard input. Prints the image ID."""
    import contextlib
    import shutil
    import sys
    import tempfile

    import pybuild

    platform = pybuild.platform_of(None, os_, arch, variant)
    store = opts.open_store()
    with contextlib.ExitStack() as stack:
        if path == "-":  # a tarball on standard input, staged in the store's own file system
            tmp = stack.enter_context(tempfile.NamedTemporaryFile(prefix=".stdin-", dir=store.root))
            shutil.copyfileobj(sys.stdin.buffer, tmp)
            tmp.flush()
            path = tmp.name
        image = pybuild.import_tarball(path, reference, store=store, changes=changes, message=message,
                                       platform=platform, on_event=renderer_for("plain", quiet))
    click.echo(image.id)


@command("images")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Print full image IDs.")
@click.option("-n", "--noheading", is_flag=True, help="No header line.")
@click.option("-a", "--all", "all_", is_flag=True, expose_value=False,
              help="Every image (always: pybuild keeps no intermediate images, its step cache is apart).")
@click.argument("filter_name", required=False)
@pass_globals
def images_cmd(opts: GlobalOptions, as_json: bool, quiet: bool, no_trunc: bool, noheading: bool,
               filter_name: str | None) -> None:
    """List images in the local store."""
    store = opts.open_store()
    images = store.images()
    if filter_name:
        found = store.find_image(filter_name)
        images = [found] if found else []
    if as_json:
        out = []
        for img in images:
            out.append({"id": img.id, "names": img.names, "digest": _manifest_digest(img),
                        "createdat": img.created, "size": store.image_size(img)})
        click.echo(json.dumps(out, indent=4))
        return
    if quiet:
        for img in images:
            click.echo(img.id if no_trunc else img.id[:12])
        return
    rows = [] if noheading else [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for img in images:
        created = _ago(img.created)
        size = human_size(store.image_size(img))
        iid = img.id if no_trunc else img.id[:12]
        if not img.names:
            rows.append(("<none>", "<none>", iid, created, size))
        for name in img.names:
            repo, _, tag = name.rpartition(":")
            if "/" in tag or not repo:
                repo, tag = name, "<none>"
            rows.append((repo, tag, iid, created, size))
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("   ".join(r[i].ljust(widths[i]) for i in range(5)).rstrip())


def _manifest_digest(img: Any) -> str:
    return str(img.manifest.digest) if img.manifest else ""


def _ago(created: str) -> str:
    if not created:
        return ""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return created
    delta = max(0, time.time() - when)
    for unit, secs in (("years", 31536000), ("months", 2592000), ("weeks", 604800), ("days", 86400),
                       ("hours", 3600), ("minutes", 60)):
        if delta >= secs:
            return f"{int(delta // secs)} {unit} ago"
    return "Less than a minute ago" if delta >= 1 else "Less than a second ago"


@command("tag")
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@pass_globals
def tag_cmd(opts: GlobalOptions, image: str, names: tuple[str, ...]) -> None:
    """Add names to an image."""
    opts.open_store().tag(image, *names)


@command("rmi")
@click.option("-f", "--force", is_flag=True, help="Remove the image even with several names or users.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every image.")
@click.option("-p", "--prune", is_flag=True, help="Remove dangling images (no name).")
@click.argument("images", nargs=-1)
@pass_globals
def rmi_cmd(opts: GlobalOptions, force: bool, all_: bool, prune: bool, images: tuple[str, ...]) -> None:
    """Remove images (or one of their names) from the store."""
    from pybuild.errors import UserError

    store = opts.open_store()
    targets = list(images)
    if all_:
        targets = [i.id for i in store.images()]
        force = True
    elif prune:
        targets = [i.id for i in store.images() if not i.names]
    elif not targets:
        raise UserError("rmi needs an image name or ID (or --all)")
    for ref in targets:
        image_id, removed = store.remove_image(ref, force=force)
        if removed:
            click.echo(image_id)
        else:
            click.echo(f"untagged: {ref}")
    store.gc()


@command("inspect")
@click.option("-t", "--type", "type_", type=click.Choice(["image", "container"]), default=None)
@click.option("-f", "--format", "format_", default=None, help="A Go template over buildah's fields, e.g. {{.OCIv1.Config.Env}}.")
@click.option("--attestations", is_flag=True,
              help="The image's attestations instead (SBOM, provenance): a store image's as recorded by "
                   "bud, a transport's (oci:..., docker://...) as its index carries them.")
@click.argument("name")
@pass_globals
def inspect_cmd(opts: GlobalOptions, type_: str | None, format_: str | None, attestations: bool, name: str) -> None:
    """Print an image's (or working container's) configuration and manifest as JSON."""
    import pybuild

    if attestations:
        from pybuild.errors import ConfigError

        if type_ == "container" or format_:
            raise ConfigError("--attestations shows an image's attestations as JSON (no --type container, no --format)")
        click.echo(json.dumps(pybuild.attestations(name, store=opts.open_store()), indent=4))
        return
    data = pybuild.inspect(name, store=opts.open_store(), type=type_)
    if format_:
        click.echo(pybuild.format_inspect(data, format_))
    else:
        click.echo(json.dumps(data, indent=4))
