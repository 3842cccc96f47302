"""Working-container operations: buildah's `from`, `run`, `copy`/`add`, `config`, `commit`,
`mount`, `umount`, `rm`, `rename` and `prune`, shared by the CLI verbs and the library.

Every operation loads the container from its record in the store, does its work and
saves the record again, so a container lives across processes and outlives the one
that made it (a killed `pybuild run` leaves a record that `rm` cleans). RUN and
COPY/ADD reuse the build steps' code (sandbox, run_step's hosts file, copier,
copy_step's owner lookup, unpacker and URL download); commit follows
``steps.write_final_image`` (OCI drops HEALTHCHECK/ONBUILD/SHELL, ``--squash``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybuild.builder.container import WorkingContainer, cleanup_dead
from pybuild.builder.paths import DEFAULT_PATH
from pybuild.builder.records import ImageMeta
from pybuild.builder.store import Image, Store, remove_tree, tree_size
from pybuild.builder.store_transport import PULL_POLICIES, resolve_image
from pybuild.builder.volumes import parse_volume
from pybuild.errors import ConfigError, StepFailed, UserError
from pybuild.events import INFO, OUTPUT, STEP, WARNING, EventCallback, emit
from pybuild.lazyre import lazy
from pybuild.oci.spec import History, healthcheck, rfc3339

# ---------------------------------------------------------------------- from


def container_base_name(ref: str, image: Image | None) -> str:
    """buildah's naming: ``<image basename>-working-container``; scratch gives ``working-container``."""
    if image is None:
        return "working-container"
    name = ref
    bare = ref[7:] if ref.startswith("sha256:") else ref
    if re.fullmatch(r"[0-9a-f]{3,64}", bare) and image.id.startswith(bare):
        if not image.names:
            return "working-container"
        name = image.names[0]
    from pybuild.oci.transport import is_transport_spec

    if is_transport_spec(name):
        name = name.split(":", 1)[1]
    name = name.split("@", 1)[0].rstrip("/")
    last = name.rsplit("/", 1)[-1]
    last = last.split(":", 1)[0] or "working"
    return f"{last}-working-container"


def _name_asked(ref: str, image: Image | None) -> str | None:
    from pybuild.builder.store import _name_candidates

    if image is None:
        return None
    return next((c for c in _name_candidates(ref) if c in image.names), None)


RUN_DEFAULTS = ("isolation", "network", "cap_add", "cap_drop", "volumes", "add_hosts", "dns", "dns_search", "dns_options",
                "resources")


def from_image(store: Store, ref: str, *, name: str | None = None, pull: str = "missing",
               cidfile: str | None = None, run_defaults: Mapping[str, Any] | None = None,
               security_opts: Sequence[str] = (), on_event: EventCallback | None = None,
               **registry_options: Any) -> WorkingContainer:
    """A new working container on image ``ref`` (``scratch``: an empty one), recorded in the store;
    its ID is also written to ``cidfile`` (buildah's --cidfile). ``run_defaults`` (keys in
    RUN_DEFAULTS: buildah's `from --isolation --network --cap-add...`) are what each later
    ``run`` in it starts from.

    ``security_opts`` (buildah's ``from --security-opt``) apply to every ``run`` in it."""
    from pybuild.builder.sandbox.security import parse_security_opts

    kept = parse_security_opts(security_opts).as_opts()  # refused before anything is pulled or recorded
    defaults = {k: v for k, v in (run_defaults or {}).items() if v}
    unknown = set(defaults) - set(RUN_DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown run defaults {sorted(unknown)}")
    if defaults.get("network"):
        from pybuild.builder.sandbox.network import check_mode

        check_mode(defaults["network"])
    for volume in defaults.get("volumes", ()):
        parse_volume(volume)  # a bad -v now, not at the first run
    if defaults.get("dns"):
        from pybuild.builder.sandbox.resolv import check_dns

        check_dns(defaults["dns"])
    if defaults.get("resources"):  # parse_resources' keywords, as `from --memory ...` gives them
        from pybuild.builder.sandbox.resources import parse_resources

        parse_resources(**defaults["resources"])
    emit(on_event, STEP, f"FROM {ref}", op="from", image=ref)
    image = None if ref == "scratch" else resolve_image(store, ref, pull=pull, on_event=on_event,
                                                         **registry_options)
    with store.lock():
        taken = {wc.name for wc in WorkingContainer.all(store) if wc.name}
        if name:
            if name in taken:
                raise ConfigError(f"the container name {name!r} is already in use")
            chosen = name
        else:
            base = container_base_name(ref, image)
            chosen, n = base, 0
            while chosen in taken:
                n += 1
                chosen = f"{base}-{n}"
        wc = WorkingContainer.create(store, image, name=chosen, record=True)
        if kept:
            wc.state.security_opts = kept
        if defaults:
            wc.state.run_defaults = {k: list(v) if isinstance(v, (list, tuple)) else v
                                        for k, v in defaults.items()}
            wc.save()
        asked = _name_asked(ref, image)
        if asked:
            wc.state.image_name = asked  # the name the user gave, not whichever the image has first
            wc.save()
        if image is None:
            wc.config.config.env = [f"PATH={DEFAULT_PATH}"]
            wc.save()
    emit(on_event, INFO, chosen, op="from", container=chosen, id=wc.id)
    if cidfile:
        with open(cidfile, "w") as f:
            f.write(wc.id)
    return wc


# ---------------------------------------------------------------------- lookup, listing


def get(store: Store, ref: str) -> WorkingContainer:
    """The working container called ``ref`` (name, ID or ID prefix); ContainerNotFound if none."""
    return WorkingContainer.load(store, ref)


def containers(store: Store, *, all: bool = False) -> list[WorkingContainer]:
    """Working containers made by `from` (``all``: also those a build made for itself)."""
    return [wc for wc in WorkingContainer.all(store) if all or not wc.state.internal]


def describe(wc: WorkingContainer) -> dict[str, Any]:
    """A container as `pybuild containers --json` shows it (buildah's keys)."""
    return {"id": wc.id, "builder": True, "imageid": wc.state.image_id,
            "imagename": wc.state.image_name, "containername": wc.name,
            "mounted": wc.state.mounted, "mountpoint": str(wc.mountpoint),
            "created": wc.state.created}


def is_mounted(wc: WorkingContainer) -> bool:
    """Whether the container's root filesystem is mounted now."""
    from pybuild.builder.sandbox.overlay import is_mounted as mounted

    return mounted(str(wc.mountpoint))


def mount(wc: WorkingContainer) -> Path:
    """Mount the root filesystem and leave it mounted (for tools that edit files directly)."""
    path = wc.mountpoint if is_mounted(wc) and wc.state.mounted else wc.mount()
    wc.state.user_mounted = True
    wc.save()
    return path


def unmount(wc: WorkingContainer) -> None:
    wc.unmount()
    if wc.state.user_mounted:
        wc.state.user_mounted = False
        wc.save()


def remove(wc: WorkingContainer) -> None:
    """Unmount (if mounted) and delete a container; its committed layers stay until `prune`."""
    wc.remove()


def rename(store: Store, wc: WorkingContainer, new_name: str) -> None:
    if not new_name or "/" in new_name:
        raise ConfigError(f"invalid container name {new_name!r}")
    with store.lock():
        for other in WorkingContainer.all(store):
            if other.name == new_name and other.id != wc.id:
                raise ConfigError(f"the container name {new_name!r} is already in use")
        wc.state.name = new_name
        wc.save()


@contextlib.contextmanager
def _rootfs(wc: WorkingContainer, stubs: list[tuple[str, bool]] | None = None) -> Iterator[str]:
    """The container's rootfs for one operation: mounted for it (with ``stubs``), then
    unmounted — or, if the user mounted it, remounted as it was."""
    user_mounted = wc.state.user_mounted and is_mounted(wc)
    if user_mounted and not stubs:
        yield str(wc.mountpoint)
        return
    try:
        with wc.mounted(stubs or []) as root:
            yield str(root)
    finally:
        if user_mounted:
            wc.mount()


# ---------------------------------------------------------------------- run


def _no_other_keys(value: str, left: dict[str, str]) -> None:
    """A --mount key pybuild does not act on is refused, never dropped."""
    if left:
        raise ConfigError(f"--mount {value!r}: {sorted(left)[0]} is not supported here")


def parse_mount(value: str, store: Store | None = None) -> Any:
    """``--mount type=bind,src=HOST,dst=PATH[,ro]``, ``type=tmpfs,dst=PATH[,size=N]`` or
    ``type=cache,dst=PATH[,id=ID][,mode=,uid=,gid=]`` (the store's cache, as RUN --mount has it)."""
    from pybuild.builder.sandbox import Mount

    fields: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        fields[key.strip().lower()] = val if sep else "true"
    kind = fields.pop("type", "bind")
    target = fields.pop("destination", None) or fields.pop("dst", None) or fields.pop("target", None)
    if not target:
        raise ConfigError(f"--mount {value!r}: no destination (dst=PATH)")
    readonly = any(fields.pop(k, "false").lower() in ("true", "1", "") for k in ("ro", "readonly"))
    if fields.pop("rw", None) is not None:
        readonly = False
    if kind == "bind":
        src = fields.pop("source", None) or fields.pop("src", None)
        if not src:
            raise ConfigError(f"--mount {value!r}: no source (src=PATH)")
        if not os.path.exists(src):
            raise ConfigError(f"--mount source {src} does not exist")
        _no_other_keys(value, fields)
        return Mount(target=target, source=os.path.abspath(src), type="bind", readonly=readonly)
    if kind == "tmpfs":
        opts = {k.replace("tmpfs-", ""): fields.pop(k) for k in list(fields)
                if k in ("size", "mode", "tmpfs-size", "tmpfs-mode")}
        _no_other_keys(value, fields)
        return Mount(target=target, source=None, type="tmpfs", readonly=False, options=opts)
    if kind == "cache" and store is not None:
        from pybuild.builder.run_step import cache_dir

        def number(key: str, base: int) -> int | None:
            raw = fields.get(key)
            try:
                return int(raw, base) if raw is not None else None
            except ValueError:
                raise ConfigError(f"--mount {value!r}: {key}={raw} is not a number") from None

        path = cache_dir(store, fields.pop("id", "") or target, mode=number("mode", 8), uid=number("uid", 10),
                         gid=number("gid", 10))
        _no_other_keys(value, {k: v for k, v in fields.items() if k not in ("mode", "uid", "gid")})
        return Mount(target=target, source=str(path), type="bind", readonly=readonly)
    raise ConfigError(f"--mount type={kind} is not supported by run (bind, tmpfs or cache)")


def run(wc: WorkingContainer, argv: Sequence[str], *, env: Mapping[str, str] | Sequence[str] = (),
        user: str | None = None, workdir: str | None = None, isolation: str | None = None,
        network: str | None = None, mounts: Sequence[Any] = (), cap_add: Sequence[str] = (),
        cap_drop: Sequence[str] = (), add_hosts: Sequence[str] = (), no_hosts: bool = False,
        hostname: str | None = None,
        security_opts: Sequence[str] = (), stdin: bool = False, output: Callable[[bytes], None] | None = None,
        check: bool = True, runtime: str | None = None, resources: Mapping[str, Any] | None = None,
        on_event: EventCallback | None = None) -> int:
    """Run ``argv`` in the container (its Env, User and WorkingDir unless overridden); the
    changes stay in the container. Returns the exit status; raises StepFailed when it is
    not 0 and ``check``. Output goes to ``output`` or, without it, to OUTPUT events.
    ``security_opts`` come after the ones the container was made with (later ones win).
    What `from` was given (``run_defaults``) comes first: its isolation and network unless
    these are given, its capabilities, volumes and hosts before these, its --dns settings;
    ``resources`` (parse_resources' keywords: memory=, ulimits=, cgroupns=...) over from's.
    ``no_hosts`` leaves the container's own /etc/hosts (buildah's ``run --no-hosts``)."""
    from pybuild.builder import sandbox
    from pybuild.builder.sandbox.network import check_mode, effective_mode, joined, unavailable
    from pybuild.builder.sandbox.resolv import hosts_file, resolv_conf
    from pybuild.builder.sandbox.security import parse_security_opts

    argv = list(argv)
    if not argv:
        raise UserError("run needs a command")
    if no_hosts and add_hosts:
        raise ConfigError("--no-hosts and --add-host conflict, can not be used together")
    from pybuild.oci.platform_host import KNOWN_ARCHES, check_runnable, config_platform

    if wc.config.architecture in KNOWN_ARCHES:  # an arm64 container needs arm64 binaries to run here
        check_runnable(config_platform(wc.config), f"run in {wc.name}")
    defaults = dict(wc.state.run_defaults)
    isolation = isolation or defaults.get("isolation")
    given = network if network not in (None, "", "default") else None
    requested = given or defaults.get("network") or "default"
    network = effective_mode(check_mode(requested))
    cap_add = [*defaults.get("cap_add", ()), *cap_add]
    cap_drop = [*defaults.get("cap_drop", ()), *cap_drop]
    add_hosts = [*defaults.get("add_hosts", ()), *add_hosts]
    mounts = [*(parse_volume(v) for v in defaults.get("volumes", ())), *mounts]
    isolation, runtime = sandbox.choose_runtime(isolation, runtime)
    security = parse_security_opts([*wc.state.security_opts, *security_opts])
    from pybuild.builder.sandbox.resources import parse_resources

    limits = parse_resources(**{**defaults.get("resources", {}), **(resources or {})})
    emit(on_event, STEP, "RUN " + shlex.join(argv), op="run", container=wc.name, argv=argv)
    cfg = wc.config.config
    run_env = list(cfg.env)
    extra = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) else list(env)
    for item in extra:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise ConfigError(f"invalid environment entry {item!r} (use KEY=VALUE)")
        run_env = [e for e in run_env if e.partition("=")[0] != key] + [item]
    if not any(e.startswith("PATH=") for e in run_env):
        run_env.insert(0, f"PATH={DEFAULT_PATH}")
    if output is None:
        def output(chunk: bytes) -> None:
            emit(on_event, OUTPUT, chunk.decode("utf-8", "replace"))
    host = hostname or wc.id[:12]
    if requested == "default" and network == "host":
        emit(on_event, WARNING, f"private networking cannot be set up ({unavailable()}): the host's network is used")
    with joined(network) as (net, netns, setup):
        spec = sandbox.RunSpec(
            rootfs=str(wc.mountpoint), argv=argv, env=run_env, cwd=workdir or cfg.working_dir or "/",
            hostname=host, mounts=list(mounts), network=net, netns=netns,
            capabilities=sandbox.apply_cap_changes(list(sandbox.DEFAULT_CAPABILITIES), list(cap_add),
                                                   list(cap_drop)),
            no_new_privileges=security.no_new_privileges, seccomp=security.seccomp,
            hosts=None if no_hosts else hosts_file(list(add_hosts), host,
                                                   *((setup.address, setup.gateway) if setup else ())),
            resolv_conf=resolv_conf(network, defaults.get("dns", ()), defaults.get("dns_search", ()),
                                    defaults.get("dns_options", ()), setup.gateway if setup else None,
                                    forwarder=setup.dns if setup else None),
            output=output, stdin=stdin, scratch_dir=str(wc.store.scratch_dir(f"run-{wc.id[:12]}")), runtime=runtime,
            resources=limits)
        try:
            status = _run_in(wc, spec, user, isolation)
        finally:
            remove_tree(Path(spec.scratch_dir or ""))
    if status != 0 and check:
        raise StepFailed(f"running {shlex.join(argv)}: exit status {status}", where=wc.name or wc.id[:12],
                         status=status)
    return status


def _run_in(wc: Any, spec: Any, user: str | None, isolation: str | None) -> int:
    from pybuild.builder import sandbox
    from pybuild.builder.paths import makedirs_in_root, resolve_in_root

    cfg = wc.config.config
    with _rootfs(wc, sandbox.stub_paths(spec)) as root:
        uid, gid, groups, home = sandbox.resolve_user(root, user if user is not None else cfg.user or "")
        spec.uid, spec.gid, spec.additional_gids = uid, gid, groups
        from pybuild.builder.sandbox.users import with_home

        spec.env = with_home(spec.env, home)
        if not os.path.isdir(resolve_in_root(root, spec.cwd)):
            makedirs_in_root(root, spec.cwd)
        return sandbox.run(spec, isolation or sandbox.default_isolation(spec.resources))


# ---------------------------------------------------------------------- copy / add


@contextlib.contextmanager
def _source_root(store: Store, ref: str) -> Iterator[Any]:
    """``--from CTR|IMAGE``: the root filesystem of a working container or an image."""
    from pybuild.builder import copier
    from pybuild.errors import ContainerNotFound

    try:
        other = WorkingContainer.load(store, ref)
    except ContainerNotFound:
        other = None
    if other is not None:
        with _rootfs(other) as root:
            yield copier.SourceRoot(root, "stage")
        return
    image = resolve_image(store, ref, pull="missing")
    tmp = WorkingContainer.create(store, image, record=False)
    try:
        with tmp.mounted() as root:
            yield copier.SourceRoot(str(root), "image")
    finally:
        tmp.remove()


def copy(wc: WorkingContainer, sources: Sequence[str | os.PathLike[str]], dest: str, *,
         chown: str | None = None, chmod: str | None = None, from_: str | None = None, add: bool = False,
         checksum: str | None = None, on_event: EventCallback | None = None) -> None:
    """Copy host paths (or, with ``from_``, paths of another container or image) into the
    container at ``dest``, with COPY's rules; ``add`` also fetches URLs and unpacks local
    archives. Files become root's unless ``chown`` says otherwise."""
    from pybuild.builder import copier, copy_step

    srcs = [os.fspath(s) for s in sources]
    if not srcs:
        raise UserError(f"{'add' if add else 'copy'} needs at least one source")
    verb = "ADD" if add else "COPY"
    emit(on_event, STEP, f"{verb} {' '.join(srcs)} {dest}", op=verb.lower(), container=wc.name,
         sources=srcs, dest=dest)
    urls = [s for s in srcs if copy_step.is_http(s)]
    local = [s for s in srcs if not copy_step.is_http(s)]
    if urls and not add:
        raise UserError("copy cannot fetch URLs; use add")
    if urls and from_:
        raise UserError("--from cannot be used with URLs")
    mode = copier.parse_chmod(chmod)
    workdir = wc.config.config.working_dir or "/"
    with contextlib.ExitStack() as stack:
        downloads = [stack.enter_context(copy_step.download(wc.store, u, checksum=checksum)) for u in urls]
        selected: list[Any] = []
        keep_owner = False
        if from_ and local:
            src_root = stack.enter_context(_source_root(wc.store, from_))
            keep_owner = src_root.keeps_owner
            selected = copier.select_sources(src_root, local, instruction=verb.lower())
        for src in ([] if from_ else local):
            host = os.path.abspath(src)
            parent, base = os.path.split(host)
            if any(c in parent for c in "*?["):
                raise UserError(f"{verb.lower()} {src}: wildcards are allowed in the last component only")
            root = copier.SourceRoot(parent or "/", "context")
            selected.extend(copier.select_sources(root, [base] if base else ["/"],
                                                  instruction=verb.lower()))
        rootfs = stack.enter_context(_rootfs(wc))
        opts = copier.CopyOptions(owner=copy_step.resolve_owner(rootfs, chown, "--chown"), chmod=mode,
                                  keep_owner=keep_owner)
        unpack = copy_step.unpacker() if add and not from_ else None
        if selected:
            copier.copy_into_rootfs(rootfs, selected, dest, workdir, opts, unpack=unpack)
        for sel in downloads:
            copier.copy_into_rootfs(rootfs, [sel], dest, workdir,
                                    copier.CopyOptions(owner=opts.owner or (0, 0),
                                                       chmod=mode or (lambda old, d: 0o600)))


# ---------------------------------------------------------------------- config


@dataclass
class ConfigChanges:
    """Edits to a container's image config, as `pybuild config` flags give them.

    Commands given as a string are read as buildah does: a JSON array, else (for
    ``cmd``) shell words and (for ``entrypoint``) ``/bin/sh -c STRING``. In ``env``,
    ``labels``, ``annotations``, ``ports`` and ``volumes`` a key ending in ``-`` removes it."""

    cmd: list[str] | str | None = None
    entrypoint: list[str] | str | None = None
    env: list[str] = field(default_factory=list)  # KEY=VALUE, or KEY- to remove
    labels: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)
    user: str | None = None
    workdir: str | None = None
    ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    shell: list[str] | str | None = None
    stop_signal: str | None = None
    healthcheck: str | list[str] | None = None  # "CMD ..." / "CMD-SHELL ..." / "NONE" / a JSON array
    healthcheck_interval: str | None = None
    healthcheck_timeout: str | None = None
    healthcheck_start_period: str | None = None
    healthcheck_start_interval: str | None = None
    healthcheck_retries: int | None = None
    onbuild: list[str] = field(default_factory=list)
    author: str | None = None
    created_by: str | None = None
    comment: str | None = None
    arch: str | None = None
    os: str | None = None
    variant: str | None = None


def _json_list(value: str) -> list[str] | None:
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return None
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return data
    return None


def _command(value: list[str] | str, shell_form: bool) -> list[str] | None:
    if isinstance(value, list):
        return list(value)
    if value == "":
        return None
    as_json = _json_list(value)
    if as_json is not None:
        return as_json
    if shell_form:
        return ["/bin/sh", "-c", value]
    try:
        return shlex.split(value)
    except ValueError as e:
        raise ConfigError(f"cannot split command {value!r}: {e}") from None


_VAR = lazy(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(value: str, env: list[str]) -> str:
    """``$VAR`` and ``${VAR}`` from the config's Env, as buildah's config --env expands them."""
    known = dict(e.partition("=")[::2] for e in env)
    return _VAR.sub(lambda m: known.get(m.group(1) or m.group(2), ""), value)


def _duration(value: str, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds, as Docker configs keep it
    (the grammar of HEALTHCHECK's flags: Go's time.ParseDuration, as buildah reads them)."""
    from pybuild.builder.containerfile.golang import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise ConfigError(f"invalid {flag} {value!r} (a duration such as 30s or 1m30s): {e}") from None


def apply_config(wc: WorkingContainer, changes: ConfigChanges, *, on_event: EventCallback | None = None) -> None:
    """Edit the image config of the container (kept in its record until commit)."""
    from pybuild.builder.containerfile import instructions as ins

    emit(on_event, STEP, "CONFIG", op="config", container=wc.name)
    config = wc.config
    cfg = config.config
    if changes.author is not None:
        config.author = changes.author
    if changes.arch is not None:
        config.architecture = changes.arch
    if changes.os is not None:
        config.os = changes.os
    if changes.variant is not None:
        config.variant = changes.variant or None
    if changes.user is not None:
        cfg.user = changes.user
    if changes.workdir is not None:
        cfg.working_dir = changes.workdir
    if changes.stop_signal is not None:
        cfg.stop_signal = changes.stop_signal
    if changes.shell is not None:
        cfg.shell = (list(changes.shell) if isinstance(changes.shell, list)
                     else _json_list(changes.shell) or shlex.split(changes.shell))
    if changes.entrypoint is not None:
        cfg.entrypoint = _command(changes.entrypoint, shell_form=True)
    if changes.cmd is not None:
        cfg.cmd = _command(changes.cmd, shell_form=False)
    for item in changes.env:
        key, sep, value = item.partition("=")
        if not sep and key.endswith("-"):
            cfg.env = [e for e in cfg.env if e.partition("=")[0] != key[:-1]]
            continue
        if not key:
            raise ConfigError(f"invalid --env {item!r} (use KEY=VALUE)")
        if not sep:
            value = os.environ.get(key, "")
        cfg.set_env(key, _expand(value, cfg.env))
    for item in changes.labels:
        key, sep, value = item.partition("=")
        if not sep and key.endswith("-"):
            cfg.labels.pop(key[:-1], None)
        elif key:
            cfg.labels[key] = value
        else:
            raise ConfigError(f"invalid --label {item!r} (use KEY=VALUE)")
    annotations = dict(wc.state.annotations)
    for item in changes.annotations:
        key, sep, value = item.partition("=")
        if not sep and key.endswith("-"):
            annotations.pop(key[:-1], None)
        elif key:
            annotations[key] = value
        else:
            raise ConfigError(f"invalid --annotation {item!r} (use KEY=VALUE)")
    wc.state.annotations = annotations
    for port in changes.ports:
        remove_it = port.endswith("-")
        try:
            keys = ins.expose_ports([port[:-1] if remove_it else port])
        except ValueError as e:
            raise ConfigError(f"invalid --port {port!r}: {e}") from None
        for p in keys:
            if remove_it:
                cfg.exposed_ports.pop(p, None)
            else:
                cfg.exposed_ports[p] = {}
    for vol in changes.volumes:
        if vol.endswith("-"):
            cfg.volumes.pop(vol[:-1], None)
        elif vol:
            cfg.volumes[vol] = {}
    if changes.onbuild:
        cfg.on_build = [*cfg.on_build, *changes.onbuild]
    _apply_healthcheck(cfg, changes)
    if changes.created_by is not None:
        wc.state.created_by = changes.created_by
    if changes.comment is not None:
        wc.state.comment = changes.comment
    wc.save()


def _apply_healthcheck(cfg: Any, changes: ConfigChanges) -> None:
    if changes.healthcheck is not None:
        hc = changes.healthcheck
        if isinstance(hc, list):
            test = list(hc)
        elif hc.strip().upper() == "NONE":
            test = ["NONE"]
        else:
            test = _json_list(hc) or []
            if not test:
                kind, _, rest = hc.strip().partition(" ")
                if kind.upper() == "CMD":
                    test = ["CMD", *shlex.split(rest)]
                elif kind.upper() == "CMD-SHELL":
                    test = ["CMD-SHELL", rest.strip()]
                else:
                    test = ["CMD-SHELL", hc.strip()]
        if test == [] or test == ["NONE"] or hc == "":
            cfg.healthcheck = healthcheck(None) if test == ["NONE"] else None
            return
        cfg.healthcheck = healthcheck(test)
    timings = {"interval": changes.healthcheck_interval, "timeout": changes.healthcheck_timeout,
               "start_period": changes.healthcheck_start_period,
               "start_interval": changes.healthcheck_start_interval}
    if any(timings.values()) or changes.healthcheck_retries is not None:
        if cfg.healthcheck is None:
            raise ConfigError("--healthcheck-* options need a --healthcheck command")
        durations = {k: _duration(v, "--healthcheck-" + k.replace("_", "")) for k, v in timings.items() if v}
        cfg.healthcheck = healthcheck(None, base=cfg.healthcheck, retries=changes.healthcheck_retries, **durations)


# ---------------------------------------------------------------------- commit


def commit(wc: WorkingContainer, name: str | None = None, *, format: str = "oci", squash: bool = False,
           timestamp: int | None = None, rm: bool = False, iidfile: str | None = None,
           manifest: str | None = None, unsetenv: Sequence[str] = (), omit_history: bool = False,
           on_event: EventCallback | None = None, **registry_options: Any) -> Image:
    """Write the container's changes as a new layer and its config as an image named ``name``
    (a name, or a transport such as ``oci:DIR:TAG`` to write there too); returns the image.
    ``manifest``: the image also joins that manifest list (made when absent); ``unsetenv``:
    variables left out of the image's Env (the container keeps them); ``omit_history``: the
    image's config carries no history."""
    from pybuild.builder.commit import announce, drop_docker_only, write_image
    from pybuild.builder.steps import squash_layers
    from pybuild.oci.transport import is_transport_spec

    if format not in ("oci", "docker"):
        raise ConfigError(f"invalid format {format!r} (oci or docker)")
    emit(on_event, STEP, f"COMMIT {name or ''}".rstrip(), op="commit", container=wc.name, image=name)
    user_mounted = wc.state.user_mounted and is_mounted(wc)
    created = rfc3339(timestamp if timestamp is not None else time.time())
    tar_options: dict[str, Any] = {"timestamp": timestamp} if timestamp is not None else {}
    made_layer = not wc.upper_is_empty()
    if made_layer:
        wc.commit_layer(**tar_options)
    config = wc.config
    config.history.append(History(created=created, created_by=wc.state.created_by,
                                  author=config.author, comment=wc.state.comment,
                                  empty_layer=not made_layer))
    config.rootfs_diff_ids = wc.layers
    config.created = created
    wc.save()  # the container keeps its history for the next commit
    out = config.copy()
    out.config.env = [e for e in out.config.env if e.partition("=")[0] not in set(unsetenv)]
    if omit_history:
        out.history = []
    layers = list(wc.layers)
    if squash:
        layers = [squash_layers(wc.store, layers, tar_options)] if layers else []
        out.rootfs_diff_ids = list(layers)
        out.history = [History(created=created, created_by="/bin/sh -c #(nop) squashed",
                               empty_layer=not layers)]
    if format == "oci":
        drop_docker_only(out, on_event)
    destination = name if name and is_transport_spec(name) else None
    names = [name] if name and destination is None else []
    annotations = dict(wc.state.annotations)
    image = write_image(wc.store, out, layers, format=format, names=names, created=created,
                        meta=ImageMeta(format, annotations))
    if destination is not None:
        from pybuild.builder.store_transport import push_from_store

        push_from_store(wc.store, image, destination, format=format if format == "docker" else None,
                        on_event=on_event, **registry_options)
    announce(wc.store, image, names=names, iidfile=iidfile, manifest=manifest, on_event=on_event)
    if rm:
        wc.remove()
    elif user_mounted:
        wc.mount()
    return wc.store.image(image.id)


# ---------------------------------------------------------------------- prune


@dataclass
class PruneReport:
    """What `prune` removed, and how many bytes the store shrank by (measured on disk)."""

    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    cache_entries: int = 0
    layers: int = 0
    blobs: int = 0
    freed_bytes: int = 0


def prune(store: Store, *, all_images: bool = False, force: bool = False,
          on_event: EventCallback | None = None) -> PruneReport:
    """Remove what nothing uses: containers of dead builds, dangling images (``all_images``:
    every image no container uses), the step cache, RUN cache mounts, then unused layers and
    blobs. ``force`` (buildah's): first remove the working containers that use those images."""
    from pybuild.builder import cache
    from pybuild.builder.recovery import sweep

    before = tree_size(store.root)
    report = PruneReport(containers=cleanup_dead(store))
    sweep(store)  # dead writers' temp files, half-made containers, expired leases
    _release_idle_networks()
    containers = WorkingContainer.all(store)
    if force:
        doomed = {img.id for img in store.images() if all_images or not img.names}
        # `from` containers only: a running build's own containers are never taken from it
        for wc in [wc for wc in containers if wc.state.image_id in doomed and not wc.state.internal]:
            remove(wc)
            report.containers.append(wc.id)
            containers.remove(wc)
    used = {wc.state.image_id for wc in containers}
    for img in store.images():
        if img.id in used or (img.names and not all_images):
            continue
        store.remove_image(img.id, force=True)
        report.images.append(img.id)
        emit(on_event, INFO, img.id, op="prune", image=img.id)
    report.cache_entries = cache.clear(store)
    remove_tree(store.root / "cache" / "mounts")
    from pybuild.builder import garbage

    freed = garbage.collect(store)
    report.layers, report.blobs = freed["layers"], freed["blobs"]
    report.freed_bytes = max(0, before - tree_size(store.root))
    return report


def _release_idle_networks() -> None:
    """Tear down the private networks parked idle for later builds (machine-wide, as recovery)."""
    from pybuild.builder.sandbox import network

    with contextlib.suppress(OSError):
        network.release_idle()


__all__ = ["from_image", "resolve_image", "container_base_name", "get", "containers", "describe", "mount",
           "unmount", "is_mounted", "remove", "rename", "run", "parse_mount", "parse_volume", "copy",
           "ConfigChanges", "apply_config", "commit", "prune", "PruneReport", "PULL_POLICIES"]
