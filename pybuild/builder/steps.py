"""What each Containerfile instruction does to a stage: one small handler per instruction.

A handler gives the cache-key inputs of its step (``key_inputs``) and carries it
out (``execute``). Metadata instructions edit the image config; RUN runs in the
sandbox; COPY/ADD write files. The executor does the rest (keys, cache, commit).
A handler is a ``Handler[I]`` for its instruction type ``I`` and sees the build only as a
``StepContext`` (step_context.py): what it may read is listed there.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Generic

from pybuild.builder.containerfile import instructions as ins
from pybuild.builder.paths import container_join
from pybuild.builder.step_context import I
from pybuild.errors import UserError
from pybuild.events import INFO, emit
from pybuild.oci.spec import History, healthcheck

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pybuild.builder.records import CacheEntry
    from pybuild.builder.step_context import StageResult, StageState, StepContext
    from pybuild.builder.store import Image, Store
    from pybuild.oci.digest import Digest
    from pybuild.oci.spec import ImageConfig


class Handler(Generic[I]):
    """Base: a step that only edits the config (an empty_layer history entry)."""

    makes_layer = False
    never_cached = False

    def key_inputs(self, b: StepContext, st: StageState, instr: I) -> dict[str, Any]:
        return {"instruction": _describe(instr)}

    def execute(self, b: StepContext, st: StageState, instr: I) -> None:
        raise NotImplementedError

    def replay(self, st: StageState, instr: I) -> None:
        """On a cache hit: redo what the step leaves beyond its layers and config (the
        state a later step's key and work depend on), so a hit and a run end alike."""
        if self.makes_layer:
            st.pending_workdirs.clear()  # the cached layer holds them, as the run made them

    def created_by(self, st: StageState, instr: I) -> str:
        return f"/bin/sh -c #(nop) {instr.original}"


def _describe(instr: ins.Instruction) -> dict[str, Any]:
    """Every field of an (expanded) instruction, for cache keys — never positions or text."""
    out: dict[str, Any] = {"kind": type(instr).__name__}
    for name in ins.field_names(instr):
        if name in ("line", "end_line", "original", "file"):
            continue
        value = getattr(instr, name)
        out[name] = repr(value)
    return out


# ---------------------------------------------------------------------- metadata


class EnvHandler(Handler[ins.Env]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Env) -> None:
        for k, v in instr.pairs:
            st.config.config.set_env(k, v)


class LabelHandler(Handler[ins.Label]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Label) -> None:
        for k, v in instr.pairs:
            st.config.config.labels[k] = v


class ExposeHandler(Handler[ins.Expose]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Expose) -> None:
        for p in ins.expose_ports(instr.ports):
            st.config.config.exposed_ports[p] = {}


class VolumeHandler(Handler[ins.Volume]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Volume) -> None:
        for p in instr.paths:
            if not p:
                raise UserError("VOLUME specified can not be an empty string")
            st.config.config.volumes[p] = {}


class WorkdirHandler(Handler[ins.Workdir]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Workdir) -> None:
        path = container_join(st.config.config.working_dir or "/", instr.path).rstrip("/") or "/"
        st.config.config.working_dir = path
        self.replay(st, instr)

    def replay(self, st: StageState, instr: ins.Workdir) -> None:
        # the directory is made by the next layer; a hit must leave it pending too
        st.pending_workdirs.append((st.config.config.working_dir or "/", st.config.config.user or ""))


class UserHandler(Handler[ins.User]):
    def execute(self, b: StepContext, st: StageState, instr: ins.User) -> None:
        st.config.config.user = instr.user


def _shell_of(st: StageState) -> list[str]:
    return list(st.config.config.shell) or ["/bin/sh", "-c"]


def _command_argv(st: StageState, command: list[str] | str) -> list[str]:
    if isinstance(command, list):
        return list(command)
    return [*_shell_of(st), command]


class CmdHandler(Handler[ins.Cmd]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Cmd) -> None:
        st.config.config.cmd = _command_argv(st, instr.command)
        self.replay(st, instr)

    def replay(self, st: StageState, instr: ins.Cmd) -> None:
        st.cmd_set = True  # a later ENTRYPOINT keeps this CMD, hit or run


class EntrypointHandler(Handler[ins.Entrypoint]):
    def key_inputs(self, b: StepContext, st: StageState, instr: ins.Entrypoint) -> dict[str, Any]:
        # whether a CMD of this stage survives: the same parent config gives another result
        # after `CMD` in this stage than after `FROM base` whose CMD came with the base
        return {**super().key_inputs(b, st, instr), "keeps_cmd": st.cmd_set}

    def execute(self, b: StepContext, st: StageState, instr: ins.Entrypoint) -> None:
        cfg = st.config.config
        cfg.entrypoint = None if instr.command is None else _command_argv(st, instr.command)
        if not st.cmd_set:
            cfg.cmd = None  # an ENTRYPOINT resets a CMD inherited from the base image


class ShellHandler(Handler[ins.Shell]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Shell) -> None:
        st.config.config.shell = list(instr.argv)


class StopSignalHandler(Handler[ins.StopSignal]):
    def execute(self, b: StepContext, st: StageState, instr: ins.StopSignal) -> None:
        st.config.config.stop_signal = instr.signal


class HealthcheckHandler(Handler[ins.Healthcheck]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Healthcheck) -> None:
        st.config.config.healthcheck = healthcheck(
            instr.test, interval=instr.interval, timeout=instr.timeout, start_period=instr.start_period,
            start_interval=instr.start_interval, retries=instr.retries or None)


class OnbuildHandler(Handler[ins.Onbuild]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Onbuild) -> None:
        st.config.config.on_build = [*st.config.config.on_build, instr.expression]


class MaintainerHandler(Handler[ins.Maintainer]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Maintainer) -> None:
        st.config.author = instr.name


class ArgHandler(Handler[ins.Arg]):
    def execute(self, b: StepContext, st: StageState, instr: ins.Arg) -> None:
        pass  # ARG changes the evaluator's state only (apply)

    def key_inputs(self, b: StepContext, st: StageState, instr: ins.Arg) -> dict[str, Any]:
        # the value an ARG takes (default or --build-arg) is part of the key
        values = {name: st.evaluator._arg_value(name, default) for name, default in instr.args}
        return {"instruction": _describe(instr), "values": values}


# ---------------------------------------------------------------------- steps with layers


def _pending(st: StageState) -> list[list[str]]:
    """The pending WORKDIRs as a key input: a copy (the list is emptied when they are made,
    and the recorded inputs must say what the key was made of)."""
    return [[path, user] for path, user in st.pending_workdirs]


class RunHandler(Handler[ins.Run]):
    makes_layer = True

    def key_inputs(self, b: StepContext, st: StageState, instr: ins.Run) -> dict[str, Any]:
        from pybuild.builder import run_step

        security = b.opts.run.security.cache_key()  # only when not the default: old keys stay valid
        extra: dict[str, Any] = {"security": security} if security else {}
        ropts = b.opts.run
        if ropts.no_hosts or ropts.add_hosts or ropts.dns or ropts.dns_search or ropts.dns_options:
            # what the step's /etc/hosts and resolv.conf say (BuildKit keys extra hosts too);
            # only when given, so the keys of builds without them stay valid
            extra["etc"] = [ropts.no_hosts, ropts.add_hosts, ropts.dns, ropts.dns_search, ropts.dns_options]
        resources = ropts.resources.cache_key()  # likewise only when given
        if resources:
            extra["resources"] = resources
        return {**extra, "instruction": _describe(instr), "argv": run_step.argv_for(st, instr),
                "env": run_step.env_for(b, st, proxies=False), "user": st.config.config.user,
                "workdir": st.config.config.working_dir, "network": run_step.key_network(b, instr),
                "mounts": run_step.mount_keys(b, st, instr), "platform": st.config.architecture,
                "volumes": b.opts.run.volumes, "caps": [b.opts.run.cap_add, b.opts.run.cap_drop],
                "pending_workdirs": _pending(st)}

    def execute(self, b: StepContext, st: StageState, instr: ins.Run) -> None:
        from pybuild.builder import run_step

        run_step.run(b, st, instr)
        st.dirty = True

    def created_by(self, st: StageState, instr: ins.Run) -> str:
        if isinstance(instr.command, list):
            return " ".join(instr.command)
        return " ".join(_shell_of(st)) + " " + instr.script()


class CopyHandler(Handler[ins.Copy]):
    makes_layer = True

    def key_inputs(self, b: StepContext, st: StageState, instr: ins.Copy) -> dict[str, Any]:
        from pybuild.builder import copy_step

        return {"instruction": _describe(instr), "sources": copy_step.source_key(b, st, instr),
                "workdir": st.config.config.working_dir, "pending_workdirs": _pending(st)}

    def execute(self, b: StepContext, st: StageState, instr: ins.Copy) -> None:
        from pybuild.builder import copy_step

        copy_step.copy(b, st, instr)
        st.dirty = True

    def created_by(self, st: StageState, instr: ins.Copy) -> str:
        return f"/bin/sh -c #(nop) {instr.original}"


# keyed by the instruction type each handler takes (ADD is a COPY): handler_for pairs them
_HANDLERS: dict[type[ins.Instruction], Handler[Any]] = {
    ins.Env: EnvHandler(), ins.Label: LabelHandler(), ins.Expose: ExposeHandler(),
    ins.Volume: VolumeHandler(), ins.Workdir: WorkdirHandler(), ins.User: UserHandler(),
    ins.Cmd: CmdHandler(), ins.Entrypoint: EntrypointHandler(), ins.Shell: ShellHandler(),
    ins.StopSignal: StopSignalHandler(), ins.Healthcheck: HealthcheckHandler(),
    ins.Onbuild: OnbuildHandler(), ins.Maintainer: MaintainerHandler(), ins.Arg: ArgHandler(),
    ins.Run: RunHandler(), ins.Copy: CopyHandler(), ins.Add: CopyHandler(),
}


def handler_for(instr: I) -> Handler[I]:
    h = _HANDLERS.get(type(instr))
    if h is None:
        raise UserError(f"{instr.keyword} cannot be used here", where=instr.where)
    return h


# ---------------------------------------------------------------------- committing


def _history(b: StepContext, st: StageState, instr: I, handler: Handler[I], empty: bool) -> History:
    return History(created=b.created(), created_by=handler.created_by(st, instr), empty_layer=empty)


def commit_step(b: StepContext, st: StageState, instr: I, handler: Handler[I]) -> str:
    """After a step with --layers: commit its layer (RUN/COPY/ADD), store the config; return
    the config digest that names this step's result."""
    made_layer = False
    if handler.makes_layer or st.dirty:
        if st.pending_workdirs:
            from pybuild.builder.copy_step import ensure_workdirs

            with st.container.mounted() as root:
                ensure_workdirs(st, str(root))
        diff_id = st.container.commit_layer(**_tar_options(b))
        st.config.rootfs_diff_ids.append(diff_id)
        made_layer = True
        st.dirty = False
    st.config.history.append(_history(b, st, instr, handler, empty=not made_layer))
    return _store_config(b, st)


def note_step(b: StepContext, st: StageState, instr: I, handler: Handler[I]) -> None:
    """With --layers=false: no commit; remember the history entry for the stage's one layer."""
    st.history_pending.append(_history(b, st, instr, handler, empty=True))
    if handler.makes_layer:
        st.last_layer_history = len(st.history_pending) - 1


def flush_workdirs(b: StepContext, st: StageState) -> None:
    """End of a stage whose last WORKDIRs no layer has made yet (--layers): their directories,
    as a step of its own that the cache answers, so a rebuild gives the same image without a
    mount; a layer only when a directory was missing (buildah adds none for one that exists)."""
    from pybuild.builder import cache
    from pybuild.builder.copy_step import ensure_workdirs

    inputs: dict[str, Any] = {"workdirs": [list(p) for p in st.pending_workdirs]}
    key = cache.make_key({"parent": st.key, **inputs})
    hit = cache.lookup(b.store, key) if not b.opts.no_cache else None
    if hit is not None:
        take_hit(b, st, hit, key)
    else:
        with st.container.mounted() as root:
            made = ensure_workdirs(st, str(root))
        if made:
            st.config.rootfs_diff_ids.append(st.container.commit_layer(**_tar_options(b)))
            st.config.history.append(History(created=b.created(), created_by="/bin/sh -c #(nop) WORKDIR",
                                             empty_layer=False))
        cache.record(b.store, key, layers=st.container.layers, config=_store_config(b, st), inputs=inputs,
                     parent=st.key)
        st.key = key
    st.pending_workdirs.clear()


def take_hit(b: StepContext, st: StageState, hit: CacheEntry, key: str) -> None:
    """The stage continues from a cached step: its layers, its config, its key (no mount)."""
    from pybuild.oci.spec import ImageConfig

    st.container.set_layers(hit.layers)
    st.config = ImageConfig.from_json(b.store.layout.read_blob(hit.config))
    st.key = key


def flush_layer(b: StepContext, st: StageState) -> None:
    """End of a stage: commit what is left (the one layer of --layers=false, pending WORKDIRs)."""
    if st.pending_workdirs:
        from pybuild.builder.copy_step import ensure_workdirs

        with st.container.mounted() as root:
            ensure_workdirs(st, str(root))
        st.dirty = True
    if st.dirty:
        diff_id = st.container.commit_layer(**_tar_options(b))
        st.config.rootfs_diff_ids.append(diff_id)
        st.dirty = False
        idx = st.last_layer_history
        if st.history_pending:
            if idx is None:
                idx = len(st.history_pending) - 1
            st.history_pending[idx].empty_layer = False
        else:
            st.config.history.append(History(created=b.created(), created_by="/bin/sh -c #(nop) WORKDIR",
                                             empty_layer=False))
    st.config.history.extend(st.history_pending)
    st.history_pending = []


def _tar_options(b: StepContext) -> dict[str, Any]:
    out = b.opts.output
    if out.timestamp is not None:
        return {"timestamp": out.timestamp}
    if out.rewrite_timestamp and out.source_date_epoch is not None:
        return {"clamp_mtime": out.source_date_epoch}
    return {}


def _store_config(b: StepContext, st: StageState) -> str:
    # the config is dated by its newest history entry (one clock reading, as buildah does)
    st.config.created = st.config.history[-1].created if st.config.history else b.created()
    # named only by the cache entry (a miss if a crash loses it) and by the image record,
    # which settles the blob directory first (Store.add_image)
    digest, _ = b.store.layout.put_bytes(st.config.to_json(docker=True), settle=False)
    return str(digest)


def onbuild_triggers(b: StepContext, st: StageState) -> list[ins.Instruction]:
    """ONBUILD instructions of the base image, parsed; they run right after FROM and are not
    inherited further."""
    triggers = list(st.config.config.on_build)
    if not triggers:
        return []
    from pybuild.builder.containerfile import parse

    st.config.config.on_build = []
    text = "\n".join(triggers) + "\n"
    doc = parse(text, f"{b.containerfile_name} (ONBUILD of {st.stage.base})")
    out = []
    for node in doc.nodes:
        instr = ins.from_node(node, doc.filename)
        out.append(ins.replace(instr, line=st.stage.from_instruction.line))
    return out


def write_final_image(b: StepContext, final: StageResult) -> Image:
    """The final stage's layers and config become an image in the store, named by --tag."""
    out = b.opts.output
    config = final.config.copy()
    for k, v in out.labels.items():
        config.config.labels[k] = v
    for name in out.unsetenv:
        config.config.env = [e for e in config.config.env if e.partition("=")[0] != name]
    for name, value in out.env.items():
        config.config.env = [e for e in config.config.env if e.partition("=")[0] != name] + [f"{name}={value}"]
    last = config.history[-1].created if config.history else None
    if out.omit_history:
        config.history = []
    if not (b.opts.layers and not out.squash and out.timestamp is None and config.created
            and config.created == last):
        config.created = b.created()
    # else: the last step's commit (or cache hit) already dated it: a rebuild that hits the
    # cache at every step then gives the same image ID, as buildah's does
    layers = list(final.layers)
    from pybuild.builder.container import ensure_layer_any

    for diff_id in layers:  # base layers never mounted are still only blobs: push needs them
        ensure_layer_any(b.store, diff_id, "the image")
    if out.squash:
        layers, config = _squash(b, final, config)
    from pybuild.builder.commit import announce, drop_docker_only, write_image
    from pybuild.builder.records import ImageMeta

    if out.format == "oci":
        drop_docker_only(config, b.on_event)
    names = list(out.tags)
    if names:
        emit(b.on_event, INFO, f"COMMIT {names[0]}")
    else:
        emit(b.on_event, INFO, "COMMIT")
    img = write_image(b.store, config, layers, format=out.format, names=names, created=config.created or "",
                      meta=ImageMeta(out.format, dict(out.annotations), out.compression))
    emit(b.on_event, INFO, f"--> {img.id[:12]}")
    for n in b.store.image(img.id).names:
        if n in [_full(t) for t in names]:
            emit(b.on_event, INFO, f"Successfully tagged {n}")
    announce(b.store, img, names=names, iidfile=out.iidfile, manifest=out.manifest, on_event=b.on_event)
    if out.outputs:
        from pybuild.builder import outputs

        for spec in out.outputs:
            outputs.export(b.store, img, spec, on_event=b.on_event)
    return b.store.image(img.id)


def _full(name: str) -> str:
    from pybuild.builder.store import normalize_name

    with contextlib.suppress(Exception):
        return normalize_name(name)
    return name


def _squash(b: StepContext, final: StageResult, config: ImageConfig) -> tuple[list[Digest], ImageConfig]:
    """--squash: every layer of the image merged into one."""
    diff_id = squash_layers(b.store, list(final.layers), _tar_options(b))
    config.history = [History(created=b.created(), created_by="/bin/sh -c #(nop) squashed", empty_layer=False)]
    return [diff_id], config


def squash_layers(store: Store, layers: Sequence[str], tar_options: dict[str, Any]) -> Digest:
    """Merge ``layers`` into one new layer in the store; returns its diff_id.
    (Shared with `pybuild commit --squash`.)"""
    from pybuild.builder.container import WorkingContainer
    from pybuild.builder.store import remove_tree
    from pybuild.oci.layer import layer_digests

    wc = WorkingContainer.create(store, None, record=False)
    staging = store.scratch_dir("squash")
    try:
        from pybuild.builder.records import digests

        wc.state.layers = digests(layers)
        wc.save()
        with wc.mounted() as root:
            # copy the merged view into a fresh dir, which becomes the one layer
            import shutil

            target = staging / "diff"
            shutil.copytree(root, target, symlinks=True, copy_function=shutil.copy2)
        info = layer_digests(target, overlay_upper=True, **tar_options)
        store.adopt_layer(target, str(info.diff_id), size=info.uncompressed_size, tar_options=tar_options)
    finally:
        remove_tree(staging)
        with contextlib.suppress(Exception):
            wc.remove()
    return info.diff_id
