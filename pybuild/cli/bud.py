"""`pybuild bud` (alias `build`): build an image from a Containerfile, buildah's flags."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from pybuild.cli.common import GlobalOptions, Renderer, pass_globals
from pybuild.cli.images import _registry_options, registry_flags
from pybuild.cli.pflag import OptionalValue, command
from pybuild.cli.refused import ALWAYS_RM, ROOTLESS, USERNS, IsolationFlag, Refused
from pybuild.cli.resources import resource_flags
from pybuild.cli.resources import values as resource_values
from pybuild.errors import ConfigError


@command("bud", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-t", "--tag", "tags", multiple=True, help="Name the image (repeatable).")
@click.option("-f", "--file", "file_", default=None, help="Containerfile path ('-' reads stdin).")
@click.option("--target", default=None, help="Build up to this stage.")
@click.option("--from", "from_image", default=None, help="Build the first FROM on this image instead.")
@click.option("--build-arg", "build_args", multiple=True, help="ARG value KEY=VALUE.")
@click.option("--build-arg-file", "build_arg_files", multiple=True, help="File of KEY=VALUE lines.")
@click.option("--build-context", "build_contexts", multiple=True, help="Named context NAME=PATH.")
@click.option("--label", "labels", multiple=True, help="Image label KEY=VALUE.")
@click.option("--annotation", "annotations", multiple=True, help="Manifest annotation KEY=VALUE.")
@click.option("--format", "format_", type=click.Choice(["oci", "docker"]), default=None,
              help="Image format (default oci, or $BUILDAH_FORMAT).")
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]), default=None)
@click.option("--iidfile", default=None, help="Write the image ID to this file.")
@click.option("--squash", is_flag=True, help="Squash all layers into one.")
@click.option("--layers", is_flag=True, default=True, show_default=True, envvar="BUILDAH_LAYERS",
              help="Cache and commit a layer per step ($BUILDAH_LAYERS).")
@click.option("--no-cache", is_flag=True, help="Do not use cached steps.")
@click.option("--explain-cache", is_flag=True, help="Say which input changed when a step misses the cache.")
@click.option("--cache-from", "cache_from", multiple=True, metavar="REPO|type=registry,ref=REPO:TAG|type=local,src=DIR",
              help="Remote cache to use (repeatable, first hit wins): buildah's repository or BuildKit's type=.")
@click.option("--cache-to", "cache_to", multiple=True,
              metavar="REPO|type=registry,ref=REPO:TAG[,mode=min|max]|type=local,dest=DIR",
              help="Remote cache to export this build's steps to (never the base image's layers).")
@click.option("--cache-ttl", default=None, help="Only use remote cache entries younger than this (e.g. 5h).")
@click.option("--pull", cls=OptionalValue, bare="true", default="missing", metavar="[=POLICY]",
              help="always | missing | never (also true/false); --pull alone: true (always).")
@click.option("-o", "--output", "outputs", multiple=True, help="type=local,dest=DIR | type=tar,dest=FILE")
@click.option("--platform", default=None,
              help="OS/ARCH[/VARIANT][,...]: the platforms to build for (any `pybuild info` lists as runnable).")
@click.option("--all-platforms", is_flag=True, help="Build for every platform the base image's index lists.")
@click.option("--arch", default=None, help="As --platform linux/ARCH.")
@click.option("--os", "os_", default=None, help="As --platform OS/ARCH (only linux).")
@click.option("--variant", default=None, help="As --platform OS/ARCH/VARIANT.")
@click.option("--jobs", type=int, default=None, help="Stages to run at once.")
@click.option("--secret", "secrets", multiple=True, help="id=ID,src=PATH or id=ID,env=VAR")
@click.option("--ssh", "ssh", multiple=True,
              help="SSH agent socket or keys for RUN --mount=type=ssh: default|ID[=SOCKET|KEY[,KEY]]")
@click.option("--cpp-flag", "cpp_flags", multiple=True, help="Flag for cpp, which runs a Containerfile.in.")
@click.option("--network", "--net", "network", default="default",
              help="private | host | none | ns:PATH | slirp4netns[:allow_host_loopback=true] (default: private where it can be set up: netavark as root, slirp4netns rootless; else host)")
@click.option("--no-hosts", is_flag=True, help="RUN sees the base image's /etc/hosts, not a new one.")
@click.option("--allow", "allow", multiple=True, type=click.Choice(["network.host", "security.insecure"]),
              help="Entitlements (BuildKit's): network.host lets RUN --network=host use the host's network; "
                   "security.insecure lets RUN --security=insecure run with every capability and no seccomp.")
@click.option("--isolation", cls=IsolationFlag, allow=("chroot", "oci"), reason=ROOTLESS, envvar="BUILDAH_ISOLATION",
              default=None, type=click.Choice(["chroot", "oci", "rootless"]),
              help="chroot | oci (default: $BUILDAH_ISOLATION, $PYBUILD_ISOLATION, else chroot)")
@click.option("--cap-add", multiple=True)
@click.option("--cap-drop", multiple=True)
@click.option("--security-opt", "security_opts", multiple=True,
              help="seccomp=unconfined|FILE, no-new-privileges, apparmor=unconfined, label=disable.")
@click.option("-v", "--volume", "volumes", multiple=True, help="SRC:DST[:ro] bind mount for RUN.")
@click.option("--add-host", "add_hosts", multiple=True, help="NAME:IP for /etc/hosts in RUN.")
@click.option("--dns", "dns", multiple=True, help="Nameserver for RUN's /etc/resolv.conf (instead of the host's); none: no resolv.conf is made.")
@click.option("--dns-search", "dns_search", multiple=True, help="Search domain for RUN's /etc/resolv.conf.")
@click.option("--dns-option", "dns_options", multiple=True, help="Resolver option for RUN's /etc/resolv.conf.")
@click.option("--unsetenv", multiple=True, help="Remove this variable from the image's Env.")
@click.option("--env", "envs", multiple=True, help="KEY=VALUE set in the image's Env (KEY alone: its value here).")
@click.option("--manifest", default=None, help="Add the image to this manifest list (created if absent).")
@click.option("--omit-history", is_flag=True, help="Write no history into the image's config.")
@click.option("--timestamp", type=int, default=None, help="Created time and file mtimes (seconds).")
@click.option("--source-date-epoch", type=int, default=None, envvar="SOURCE_DATE_EPOCH")
@click.option("--rewrite-timestamp", is_flag=True, help="Clamp mtimes to --source-date-epoch.")
@click.option("--sbom", default=None, metavar="FORMAT",
              help="SBOM of the image, from pybuild's own catalogers: spdx | cyclonedx (true: spdx); "
                   "scanner presets (syft, trivy...) are refused. Attached when the image is pushed.")
@click.option("--sbom-output", default=None, type=click.Path(dir_okay=False),
              help="Also write the --sbom document to this file.")
@click.option("--sbom-purl-output", default=None, type=click.Path(dir_okay=False),
              help="Write the package URLs the --sbom found to this file, one a line.")
@click.option("--attest", "attests", multiple=True,
              help="BuildKit's: type=sbom | type=provenance[,mode=min|max] (attached when pushed).")
@click.option("--provenance", default=None, metavar="VALUE",
              help="BuildKit's: true (min) | false | mode=min|max: SLSA v1 provenance, attached when pushed.")
@click.option("--ignorefile", default=None, help="An ignore file instead of .containerignore/.dockerignore.")
@click.option("--progress", type=click.Choice(["auto", "tty", "plain", "json"]), default="auto")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--runtime", default=None, metavar="PATH", help="OCI runtime for RUN (default runc); means --isolation oci.")
@click.option("--userns", cls=Refused, allow=("host",), reason=USERNS, expose_value=False, default=None,
              help="Only host: steps share pybuild's user namespace.")
@click.option("--rm", cls=Refused, is_flag=True, default=True, reason=ALWAYS_RM, expose_value=False,
              help="Remove intermediate containers (always).")
@click.option("--force-rm", cls=Refused, is_flag=True, default=True, reason=ALWAYS_RM + ", even when the build fails",
              expose_value=False, help="Remove intermediate containers even after a failure (always).")
@click.option("-D", "--disable-compression", cls=Refused, is_flag=True, default=True, expose_value=False,
              reason="pybuild's store keeps layers uncompressed; push compresses them (push "
                     "--compression-format, or push -D to keep them uncompressed)",
              help="Don't compress layers in the store (always: push chooses).")
@click.option("--identity-label", cls=Refused, is_flag=True, default=False, expose_value=False,
              reason="pybuild adds no io.buildah.version label (it is not buildah)",
              help="Add buildah's version label (never: --identity-label=false is all pybuild does).")
@click.option("--logfile", type=click.Path(dir_okay=False), default=None,
              help="Log to this file (step headers, RUN output, warnings) instead of stdout/stderr.")
@click.option("--skip-unused-stages", cls=Refused, is_flag=True, default=True, expose_value=False,
              reason="pybuild builds only the stages the target needs, as BuildKit does",
              help="Skip stages the target does not need (always).")
@resource_flags
@registry_flags
@click.argument("context", required=False, default=".")
@pass_globals
def bud_cmd(opts: GlobalOptions, tags: tuple[str, ...], file_: str | None, target: str | None, from_image: str | None,
            build_args: tuple[str, ...], build_arg_files: tuple[str, ...], build_contexts: tuple[str, ...],
            labels: tuple[str, ...], annotations: tuple[str, ...], format_: str | None,
            compression_format: str | None, iidfile: str | None, squash: bool, layers: bool, no_cache: bool,
            explain_cache: bool, cache_from: tuple[str, ...], cache_to: tuple[str, ...], cache_ttl: str | None,
            pull: str, outputs: tuple[str, ...], platform: str | None, all_platforms: bool, arch: str | None, os_: str | None,
            variant: str | None, jobs: int | None,
            secrets: tuple[str, ...], ssh: tuple[str, ...], cpp_flags: tuple[str, ...], network: str, no_hosts: bool, allow: tuple[str, ...], isolation: str | None, cap_add: tuple[str, ...],
            cap_drop: tuple[str, ...], security_opts: tuple[str, ...], volumes: tuple[str, ...],
            add_hosts: tuple[str, ...], dns: tuple[str, ...], dns_search: tuple[str, ...],
            dns_options: tuple[str, ...], unsetenv: tuple[str, ...], envs: tuple[str, ...], manifest: str | None,
            omit_history: bool,
            timestamp: int | None,
            source_date_epoch: int | None, rewrite_timestamp: bool, sbom: str | None, sbom_output: str | None,
            sbom_purl_output: str | None, attests: tuple[str, ...], provenance: str | None,
            ignorefile: str | None, progress: str,
            quiet: bool, runtime: str | None, logfile: str | None, tls_verify: bool | None, creds: str | None,
            authfile: str | None, cert_dir: str | None, context: str) -> None:
    """Build an image from a Containerfile (or Dockerfile) in CONTEXT: a directory, a git URL
    (URL#REF[:SUBDIR]), an http(s) URL of an archive or a Containerfile, or - (stdin)."""
    import pybuild

    text = None
    if file_ == "-" and context != "-":  # (both stdin: the library says no)
        text = sys.stdin.read()
        file_ = None
    platform = pybuild.platform_of(platform, os_, arch, variant)
    multi = all_platforms or "," in (platform or "")  # which library call: one image, or a list of them
    to_stdout = pybuild.writes_tar_to_stdout(outputs)  # `-o -`: progress and the image ID go to stderr
    log = _open_log(logfile) if logfile else None
    renderer = Renderer("quiet" if quiet else progress, out=log or (sys.stderr if to_stdout else None), err=log)
    try:
        try:
            request: dict[str, Any] = dict(
                containerfile_text=text, context_stream=sys.stdin.buffer if context == "-" else None,
                cpp_flags=cpp_flags, build_arg_files=build_arg_files, build_contexts=build_contexts,
                from_image=from_image, ignorefile=ignorefile, layers=layers, no_cache=no_cache,
                explain_cache=explain_cache, cache_from=cache_from, cache_to=cache_to, cache_ttl=cache_ttl,
                pull=pull, platform=platform, all_platforms=all_platforms,
                jobs=jobs, format=format_, compression=compression_format, labels=labels,
                annotations=annotations, squash=squash, iidfile=iidfile, outputs=outputs, timestamp=timestamp,
                source_date_epoch=source_date_epoch, rewrite_timestamp=rewrite_timestamp, unsetenv=unsetenv,
                env=envs, manifest=manifest, omit_history=omit_history, isolation=isolation, runtime=runtime,
                network=network, allow=allow, cap_add=cap_add, cap_drop=cap_drop, security_opts=security_opts,
                volumes=volumes, add_hosts=add_hosts, no_hosts=no_hosts, dns=dns, dns_search=dns_search,
                dns_options=dns_options, secrets=secrets, ssh=ssh, resources=resource_values(), sbom=sbom,
                sbom_output=sbom_output, sbom_purl_output=sbom_purl_output, attest=attests,
                provenance=provenance, registry=_registry_options(tls_verify, creds, authfile, cert_dir))
            memo = pybuild.build_memo_recorder()  # a fully cached build is answered next time (launcher)
            if memo is not None:
                memo.describe(request, context=context, file=file_, text=text, multi=multi, mode=renderer.mode,
                              logfile=logfile)
                on_event: Any = memo.watch(renderer)
            else:
                on_event = renderer
            # opened once the flags are good; an ordinary user's build runs in pybuild's user
            # namespace (entered before the build starts any thread), as every command's store
            pybuild.enter_user_namespace(required=False)
            store: dict[str, Any] = dict(store=opts.root, storage_driver=opts.storage_driver,
                                         storage_opts=opts.storage_opts)
            if multi:
                result = pybuild.build_platforms(context, file_, tags, build_args, target, on_event=on_event,
                                                 **store, **request)
            else:
                image = pybuild.build(context, file_, tags, build_args, target, on_event=on_event,
                                      **store, **request)
                if memo is not None:
                    memo.built(image.id)
        except BaseException:
            renderer.close(failed=True)
            raise
        renderer.close()
        if multi:
            click.echo(result.digest.split(":")[-1] if result.digest else
                       "\n".join(i.id for i in result.images.values()), err=to_stdout)
        elif quiet or progress != "json":
            click.echo(image.id, err=to_stdout)
    finally:
        if log is not None:
            log.close()


def _open_log(path: str) -> Any:
    """buildah's --logfile: created (0600) or truncated; the image ID still goes to stdout."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise ConfigError(f"--logfile {path}: {e.strerror}") from None
    return os.fdopen(fd, "w", buffering=1)
