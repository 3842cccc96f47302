"""A build asked for in buildah's spellings -> checked :class:`BuildOptions`, before anything is built.

Why here and not in the command line: ``pybuild bud`` and ``pybuild.build()`` are one product
(issue 12). Every spelling (``--pull`` true/ifmissing, ``$BUILDAH_FORMAT``, KEY=VALUE lists,
``--secret``, ``-o``, ``--attest``, the cache and resource flags) and every check that refuses a
bad value in one line before the first step lives here, for both faces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pybuild.builder.options import AttestOptions, BuildOptions, OutputOptions, RunOptions
from pybuild.errors import ConfigError

# buildah's --pull spellings -> the policy they mean
PULL_POLICIES = {"true": "always", "false": "missing", "always": "always", "missing": "missing",
                 "never": "never", "ifmissing": "missing", "ifnewer": "missing", "newer": "missing"}

KeyValues = Mapping[str, str] | Sequence[str]


def pull_policy(value: str) -> str:
    """A ``--pull`` value (any of buildah's spellings) -> always | missing | never."""
    policy = PULL_POLICIES.get(value.lower())
    if policy is None:
        raise ConfigError(f"invalid --pull {value!r} (always, missing or never)")
    return policy


def key_values(items: KeyValues | None, flag: str) -> dict[str, str]:
    """A mapping as given, or ``KEY=VALUE`` words as buildah reads them: a bare ``KEY`` takes the
    environment's value (``--build-arg``/``--env``: dropped when unset; else empty)."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise ConfigError(f"invalid {flag} {item!r} (use KEY=VALUE)")
        if not sep:
            env = os.environ.get(key)
            if env is None:
                if flag in ("--build-arg", "--env"):
                    continue  # buildah: a bare name takes the environment's value, if any
                value = ""
            else:
                value = env
        out[key] = value
    return out


def arg_file(path: str) -> dict[str, str]:
    """``--build-arg-file``: KEY=VALUE lines, # comments and blank lines skipped."""
    out: dict[str, str] = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ConfigError(f"--build-arg-file {path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise ConfigError(f"{path}:{n}: expected KEY=VALUE")
        out[key] = value
    return out


def parse_secrets(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--secret id=ID,src=PATH`` / ``id=ID,env=VAR`` -> id -> {src (absolute) | env}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        fields = dict(f.partition("=")[::2] for f in item.split(","))
        sid = fields.get("id")
        if not sid:
            raise ConfigError(f"invalid --secret {item!r} (use id=ID,src=PATH or id=ID,env=VAR)")
        if "env" in fields or fields.get("type") == "env":
            out[sid] = {"env": fields.get("env") or fields.get("src") or sid}
        else:
            src = fields.get("src") or fields.get("source")
            if not src:
                raise ConfigError(f"invalid --secret {item!r}: src= is missing")
            if not os.path.isfile(src):
                raise ConfigError(f"--secret {sid}: {src} is not a file")
            out[sid] = {"src": os.path.abspath(src)}
    return out


def image_format(given: str | None) -> str:
    """The image format: as given, else ``$BUILDAH_FORMAT``, else oci (buildah's order)."""
    fmt = given or os.environ.get("BUILDAH_FORMAT", "oci")
    if fmt not in ("oci", "docker"):
        raise ConfigError(f"invalid format {fmt!r} (oci or docker)")
    return fmt


def writes_tar_to_stdout(outputs: Sequence[str]) -> bool:
    """Whether an ``-o`` puts the image's tar on standard output (then progress goes elsewhere)."""
    if not outputs:
        return False
    from pybuild.builder.outputs import parse_output

    return any(parse_output(spec) == ("tar", "-") for spec in outputs)


def _check_context(context: str) -> None:
    if os.path.isdir(context) or context == "-" or context.startswith(("http://", "https://")):
        return
    from pybuild.builder.git_source import is_git_url

    if not is_git_url(context):
        raise ConfigError(f"build context {context} is not a directory")


def _ssh(items: Sequence[str]) -> dict[str, list[str]]:
    if not items:
        return {}
    from pybuild.builder.ssh_forward import parse_ssh

    return parse_ssh(list(items))


def _dns(servers: Sequence[str]) -> list[str]:
    if not servers:
        return []
    from pybuild.builder.sandbox.resolv import check_dns

    return check_dns(servers)


def _resources(given: Any) -> Any:
    from pybuild.builder.sandbox.resources import Resources, parse_resources

    return given if isinstance(given, Resources) else parse_resources(**dict(given or {}))


def build_options(context: str | os.PathLike[str] = ".", file: str | os.PathLike[str] | None = None, *,
                  containerfile_text: str | None = None, context_stream: Any = None, cpp_flags: Sequence[str] = (),
                  tags: Sequence[str] = (), build_args: KeyValues | None = None, build_arg_files: Sequence[str] = (),
                  build_contexts: Mapping[str, str | os.PathLike[str]] | Sequence[str] | None = None,
                  target: str | None = None, from_image: str | None = None, ignorefile: str | None = None,
                  layers: bool = True, no_cache: bool = False, explain_cache: bool = False,
                  cache_from: Sequence[str] = (), cache_to: Sequence[str] = (), cache_ttl: str | None = None,
                  pull: str = "missing", platform: str | None = None, all_platforms: bool = False,
                  jobs: int | None = None,
                  format: str | None = None, compression: str | None = None, labels: KeyValues | None = None,
                  annotations: KeyValues | None = None, squash: bool = False, iidfile: str | None = None,
                  outputs: Sequence[str] = (), timestamp: int | None = None, source_date_epoch: int | None = None,
                  rewrite_timestamp: bool = False, unsetenv: Sequence[str] = (), env: KeyValues | None = None,
                  manifest: str | None = None, omit_history: bool = False,
                  isolation: str | None = None, runtime: str | None = None, network: str = "default",
                  allow: Sequence[str] = (), cap_add: Sequence[str] = (), cap_drop: Sequence[str] = (),
                  security_opts: Sequence[str] = (), volumes: Sequence[str] = (), add_hosts: Sequence[str] = (),
                  no_hosts: bool = False, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
                  dns_options: Sequence[str] = (), secrets: Sequence[str] = (), ssh: Sequence[str] = (),
                  resources: Any = None, sbom: str | None = None, sbom_output: str | None = None,
                  sbom_purl_output: str | None = None, attest: Sequence[str] = (), provenance: str | None = None,
                  on_event: Any = None, registry: Mapping[str, Any] | None = None) -> BuildOptions:
    """Every ``bud`` flag by its name (``--cap-add`` is ``cap_add``), in buildah's spellings,
    checked in ``bud``'s order; ConfigError (one line) for the first bad one. Each check is
    imported only when its flag is given: a plain build loads none of their modules (issue 19)."""
    from pybuild.builder.sandbox import choose_runtime

    policy = pull_policy(pull)
    if outputs:
        from pybuild.builder.outputs import parse_output

        for spec in outputs:
            parse_output(spec)  # a bad -o is an error before anything is built
    if network != "default":
        from pybuild.builder.sandbox.network import check_mode

        check_mode(network)
    if no_hosts and add_hosts:
        raise ConfigError("--no-hosts and --add-host conflict, can not be used together")
    if volumes:
        from pybuild.builder.volumes import parse_volume

        for volume in volumes:
            parse_volume(volume)  # a bad -v too
    isolation, runtime = choose_runtime(isolation, runtime)
    args: dict[str, str] = {}
    for path in build_arg_files:
        args.update(arg_file(path))
    args.update(key_values(build_args, "--build-arg"))
    context = os.fspath(context)
    if file is not None and os.fspath(file) == "-":
        raise ConfigError("the context is stdin (-): the Containerfile cannot be read from stdin too"
                          if context == "-" else "-f -: give the Containerfile's text as containerfile_text")
    fmt = image_format(format)
    _check_context(context)
    out = OutputOptions(tags=list(tags), format=fmt, compression=compression, labels=key_values(labels, "--label"),
                        annotations=key_values(annotations, "--annotation"), squash=squash, iidfile=iidfile,
                        outputs=list(outputs), timestamp=timestamp, source_date_epoch=source_date_epoch,
                        rewrite_timestamp=rewrite_timestamp, unsetenv=list(unsetenv), env=key_values(env, "--env"),
                        manifest=manifest, omit_history=omit_history)
    run = RunOptions(isolation=isolation, runtime=runtime, network=network, cap_add=list(cap_add),
                     cap_drop=list(cap_drop), security_opts=list(security_opts), volumes=list(volumes),
                     add_hosts=list(add_hosts), dns=_dns(dns), dns_search=list(dns_search),
                     dns_options=list(dns_options), secrets=parse_secrets(secrets), allow=list(allow),
                     no_hosts=no_hosts, ssh=_ssh(ssh), resources=_resources(resources))
    cache_sources: list[Any] = []
    cache_dests: list[Any] = []
    ttl = 0.0
    if cache_from or cache_to or cache_ttl is not None:
        from pybuild.builder.cache_spec import parse_cache_from, parse_cache_to, parse_ttl

        cache_sources = [parse_cache_from(v) for v in cache_from]  # a bad one: one line, nothing built
        cache_dests = [parse_cache_to(v) for v in cache_to]
        ttl = parse_ttl(cache_ttl) if cache_ttl is not None else 0.0
    contexts = {k: os.fspath(v) for k, v in build_contexts.items()} if isinstance(build_contexts, Mapping) \
        else key_values(build_contexts, "--build-context")
    sbom_format: str | None = None
    provenance_mode: str | None = None
    if attest or sbom is not None or provenance is not None:
        from pybuild.builder.attest import parse_attest

        sbom_format, provenance_mode = parse_attest(list(attest), sbom=sbom, provenance=provenance)
    if (sbom_output or sbom_purl_output) and not sbom_format:
        raise ConfigError("--sbom-output and --sbom-purl-output need --sbom (or --attest type=sbom)")
    attest_options = AttestOptions(sbom=sbom_format, sbom_output=sbom_output, sbom_purl_output=sbom_purl_output,
                                   provenance=provenance_mode)
    return BuildOptions(context=context, containerfile=os.fspath(file) if file is not None else None,
                        containerfile_text=containerfile_text, build_args=args, context_stream=context_stream,
                        cpp_flags=list(cpp_flags), build_contexts=contexts, target=target, from_image=from_image,
                        ignorefile=ignorefile, layers=layers, no_cache=no_cache, explain_cache=explain_cache,
                        cache_from=cache_sources, cache_to=cache_dests, cache_ttl=ttl, pull=policy,
                        platform=platform, all_platforms=all_platforms, jobs=jobs, run=run, output=out,
                        attest=attest_options, on_event=on_event, registry=dict(registry or {}))


__all__ = ["PULL_POLICIES", "pull_policy", "key_values", "arg_file", "parse_secrets", "image_format",
           "writes_tar_to_stdout", "build_options"]
