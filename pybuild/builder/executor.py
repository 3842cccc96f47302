"""Runs a step graph: per stage, per step — key, cache hit or execute and commit.

The executor knows the order and the bookkeeping (cache keys, history, progress,
clean-up); what each instruction does lives in steps.py, how a RUN is isolated in
sandbox/. Independent stages run at the same time (``jobs``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder import cache
from pybuild.builder.container import WorkingContainer, _scratch_config
from pybuild.builder.copier import ContentHashCache, context_path
from pybuild.builder.options import BuildOptions
from pybuild.builder.paths import DEFAULT_PATH
from pybuild.builder.step_context import StageResult, StageState
from pybuild.builder.store import Image, Store
from pybuild.errors import (
    BuildError,
    ConfigError,
    ContainerfileError,
    ImageNotFound,
    PybuildError,
    RegistryError,
    UnsupportedError,
    UserError,
)
from pybuild.events import CACHE_HIT, IMAGE, INFO, STEP, STEP_DONE, WARNING, emit
from pybuild.oci.spec import History, ImageConfig, rfc3339

if TYPE_CHECKING:
    from pybuild.builder.containerfile.ignore import IgnoreMatcher
    from pybuild.builder.containerfile.instructions import Instruction
    from pybuild.builder.copier import Selected
    from pybuild.builder.graph import Stage
    from pybuild.builder.sandbox.network import Pool
    from pybuild.builder.sandbox.spec import Sandbox
    from pybuild.oci.spec import Platform


class Build:
    """One build: created per call of :func:`build`; holds what stages share. Its handlers see
    it as a :class:`~pybuild.builder.step_context.StepContext`, the part they use."""

    def __init__(self, store: Store, options: BuildOptions, sandbox: Sandbox | None = None) -> None:
        self.store = store
        self.opts = options
        self.sandbox = sandbox  # what runs RUN steps; None: the real backends (sandbox.run)
        self.on_event = options.on_event
        self.context = context_path(options.context)
        self.results: dict[int, StageResult] = {}
        self.containers: list[WorkingContainer] = []
        # ADD URLs fetched once per build (the cache key needs their content), removed at the end
        self.downloads: dict[tuple[str, str | None], Selected] = {}
        self.resources = contextlib.ExitStack()
        self.download_lock = threading.Lock()
        self._lock = threading.Lock()
        self.hash_cache = ContentHashCache(str(store.root / "cache" / "contenthash.sqlite"))
        self.now = self._created_time()
        self.started = time.time()  # provenance's startedOn (unless a --timestamp fixes it)
        self.containerfile_name = "Containerfile"
        self.graph: Any = None
        self.ignore: IgnoreMatcher | None = None
        self._image_cache: dict[tuple[str, str], Image] = {}
        self.prefixes: dict[int, str] = {}
        self._network_fallback_said = False  # "private networking cannot be set up" is said once
        self._ssh: Any = None  # --ssh agents (builder/ssh_forward.py), made when first asked for
        self.git_commits: dict[str, tuple[str, str]] = {}  # ADD git sources resolved this build
        self.remote_contexts: dict[str, str] = {}  # --build-context NAME=URL, fetched once
        self.remote: Any = None  # --cache-from (builder/cache_import.py), made when the build runs
        self.steps_seen: list[Any] = []  # what --cache-to exports (builder/cache_export.Step)
        self.base_layers: set[str] = set()  # the FROM images' layers, never exported
        self._network_pool: Pool | None = None

    def ssh_socket(self, sid: str) -> str | None:
        """The agent socket of ``--ssh`` id ``sid`` (started now for key files), or None."""
        if not self.opts.run.ssh:
            return None
        with self._lock:
            if self._ssh is None:
                from pybuild.builder.ssh_forward import Agents

                self._ssh = Agents(self.store, self.opts.run.ssh)
                self.resources.callback(self._ssh.close)
        sock: str | None = self._ssh.socket(sid)
        return sock

    def network_pool(self) -> Pool:
        """The build's pool of private networks (made on first use, torn down when the build ends)."""
        with self._lock:
            if self._network_pool is None:
                from pybuild.builder.sandbox.network import Pool

                self._network_pool = Pool()
                self.resources.callback(self._network_pool.close)
            return self._network_pool

    def first_network_fallback(self) -> bool:
        """True the first time it is asked in this build (stages ask from their threads)."""
        with self._lock:
            first, self._network_fallback_said = not self._network_fallback_said, True
        return first

    # ------------------------------------------------------------------ setup

    def _created_time(self) -> float:
        out = self.opts.output
        if out.timestamp is not None:
            return float(out.timestamp)
        if out.source_date_epoch is not None:
            return float(out.source_date_epoch)
        return time.time()

    def created(self) -> str:
        return rfc3339(self.now if self.opts.output.timestamp is not None
                       or self.opts.output.source_date_epoch is not None else time.time())

    def load(self) -> None:
        from pybuild.builder.containerfile import parse, parse_file
        from pybuild.builder.containerfile.ignore import load_ignore
        from pybuild.builder.graph import build_graph

        opts = self.opts
        if (opts.cache_from or opts.cache_to) and not opts.layers:
            raise ConfigError("--cache-from and --cache-to need --layers (without it no step is cached)")
        self._target_platform()  # a bad --platform is an error before the Containerfile is read
        cf_path: Path | None = None
        if opts.containerfile_text is not None:
            doc = parse(opts.containerfile_text, opts.containerfile or "Containerfile")
            self.containerfile_name = opts.containerfile or "Containerfile"
        else:
            cf_path = self._find_containerfile()
            self.containerfile_name = _display_name(cf_path)
            if cf_path.name.endswith(".in"):  # buildah's Containerfile.in: through cpp first
                from pybuild.builder.build_input import preprocess

                text, warnings = preprocess(cf_path, self.context, opts.cpp_flags, self.containerfile_name)
                for w in warnings:
                    emit(self.on_event, WARNING, w)
                doc = parse(text, self.containerfile_name)
            else:
                doc = parse_file(cf_path)
        for w in getattr(doc, "warnings", []) or []:
            emit(self.on_event, WARNING, str(w))
        if opts.from_image:
            doc = _replace_first_from(doc, opts.from_image)
        build_args = dict(opts.build_args)
        if opts.output.source_date_epoch is not None:
            build_args.setdefault("SOURCE_DATE_EPOCH", str(opts.output.source_date_epoch))
        self.build_args = build_args
        self.graph = build_graph(doc, build_args=build_args, target=opts.target,
                                 build_contexts=opts.build_contexts, platform=self._target_platform())
        from pybuild.builder.containerfile.preflight import preflight

        preflight(self.graph)  # a bad EXPOSE, STOPSIGNAL, ADD --checksum... before the first step
        for name in opts.build_contexts:
            self.named_context(name)  # a bad --build-context fails before the first step
        opts.run.security  # noqa: B018 - so does a bad --security-opt (or seccomp profile)
        for sid in opts.run.ssh:  # and a key ssh-add cannot load; an agent of ours starts in this
            self.ssh_socket(sid)  # thread, which outlives the build's stages (it dies with it)
        if opts.run.resources.ulimits or opts.run.resources.cgroup_parent:  # and what cannot be granted
            from pybuild.builder import sandbox
            from pybuild.builder.sandbox.resources import check_host_limits, check_isolation

            check_host_limits(opts.run.resources)
            check_isolation(opts.run.resources,
                            sandbox.choose_runtime(opts.run.isolation, opts.run.runtime)[0]
                            or sandbox.default_isolation(opts.run.resources))
        self._check_platforms()
        problems = self.graph.unsupported()
        if problems:
            instr, reason = problems[0]
            raise UnsupportedError(f"{reason}: not supported yet",
                                   where=f"{self.containerfile_name}:{instr.line}")
        self.ignore = load_ignore(Path(self.context), cf_path, Path(opts.ignorefile) if opts.ignorefile else None)

    def _target_platform(self) -> str | None:
        """--platform, checked (a name images use); None: the host's."""
        from pybuild.oci.platform_host import parse_platform

        if self.opts.platform and "," in self.opts.platform:
            raise ConfigError(f"--platform {self.opts.platform}: one build makes one image "
                              "(several platforms: pybuild.build_platforms)")
        return str(parse_platform(self.opts.platform, "--platform")) if self.opts.platform else None

    def stage_platform(self, stage: Stage) -> Platform:
        """The platform a stage's base is pulled for and its RUN steps execute as."""
        from pybuild.oci.platform_host import parse_platform

        if stage.platform:
            return parse_platform(stage.platform, f"{self.containerfile_name}:{stage.from_instruction.line}: "
                                                  "FROM --platform")
        return parse_platform(self.graph.platform, "--platform")

    def _check_platforms(self) -> None:
        """A stage with RUN steps needs its platform's binaries to run here (natively or by a
        binfmt_misc handler); stages without RUN (COPY --from a native build stage) need nothing."""
        from pybuild.builder.containerfile.instructions import Run
        from pybuild.oci.platform_host import check_runnable

        for stage in self.graph.stages:
            p = self.stage_platform(stage)
            run = next((i for i in stage.instructions if isinstance(i, Run)), None)
            if run is not None:
                check_runnable(p, "its RUN steps", where=f"{self.containerfile_name}:{run.line}")

    def _find_containerfile(self) -> Path:
        given = self.opts.containerfile
        if given:
            p = Path(given)
            if not p.is_absolute() and not p.exists():
                alt = Path(self.context) / given
                if alt.exists():
                    p = alt
            if not p.is_file():
                raise UserError(f"no Containerfile at {given}")
            return p
        for name in ("Containerfile", "Dockerfile"):
            p = Path(self.context) / name
            if p.is_file():
                return p
        raise UserError(f"no Containerfile or Dockerfile in {self.context}")

    # ------------------------------------------------------------------ running

    def run(self) -> Image:
        self.load()  # (opening the store already cleaned what dead builds left)
        stages = list(self.graph.stages)
        multi = len(stages) > 1
        # buildah's "[2/3] STEP 1/4: ..." numbering when there are several stages
        self.prefixes = {stage.index: f"[{n}/{len(stages)}] " if multi else ""
                         for n, stage in enumerate(stages, 1)}
        if self.opts.cache_from and self.opts.layers and not self.opts.no_cache:
            from pybuild.builder.cache_import import RemoteCache

            self.remote = RemoteCache(self, list(self.opts.cache_from), self.opts.cache_ttl)
        try:
            image = self._run_with_remote(stages)
            if self.opts.attest.wanted:  # while ADD URLs' downloads are still at hand
                from pybuild.builder.attest import record

                record(self, image)
            self._export_cache()
        finally:
            self._cleanup()
            self.hash_cache.close()
            if self.remote is not None:
                self.remote.close()
        return image

    def _run_with_remote(self, stages: list[Stage]) -> Image:
        """Run the stages; a remote cache layer that turns out bad is refused and the build
        runs again without it (what ran meanwhile is in the local cache: only the steps the
        bad entry answered run again). Bounded: after 3 the remote cache is not used at all."""
        if self.remote is None:  # (a local build imports none of the remote cache's modules)
            self._run_stages(stages)
            return self._write_image(self.results[self.graph.final.index])
        from pybuild.builder.cache_import import CacheEntryRejected

        for attempt in range(4):
            try:
                self._run_stages(stages)
                return self._write_image(self.results[self.graph.final.index])
            except CacheEntryRejected as e:
                emit(self.on_event, WARNING, f"{e.message}; building the steps it answered")
                self._cleanup()  # (closes the network pool too: the next attempt makes its own)
                self._network_pool = None
                self.results.clear()
                self.downloads.clear()
                self.steps_seen.clear()
                if attempt >= 2:
                    self.remote.sources = []
        raise BuildError("the remote cache kept answering with bad layers")

    def _export_cache(self) -> None:
        if self.remote is not None:
            line = self.remote.summary()
            if line:
                emit(self.on_event, INFO, line)
        if not self.opts.cache_to or not self.opts.layers:
            return
        from pybuild.builder.cache_export import export

        for loc in self.opts.cache_to:
            export(self, loc, self.steps_seen, self.base_layers, self.graph.final.index)

    def _run_stages(self, stages: list[Stage]) -> None:
        """Run every stage once its dependencies are done; up to ``jobs`` at the same time."""
        jobs = self.opts.jobs or min(4, max(2, os.cpu_count() or 1))
        if jobs <= 1 or len(stages) == 1:
            for stage in self.graph.order:
                self.results[stage.index] = self._run_stage(stage)
            return
        # threads of its own, not concurrent.futures: its import (and logging's) cost a fully
        # cached multi-stage build ~5 ms (issue 19)
        import queue

        finished: queue.SimpleQueue[tuple[int, StageResult | None, BaseException | None]] = queue.SimpleQueue()

        def work(stage: Stage) -> None:
            try:
                finished.put((stage.index, self._run_stage(stage), None))
            except BaseException as e:  # noqa: BLE001 - re-raised below after the others stop
                finished.put((stage.index, None, e))

        started: set[int] = set()
        threads: list[threading.Thread] = []
        running = 0
        errors: list[BaseException] = []
        try:
            while True:
                if not errors:
                    ready = [s for s in self.graph.ready(set(self.results)) if s.index not in started]
                    for s in ready[: max(0, jobs - running)]:
                        started.add(s.index)
                        running += 1
                        t = threading.Thread(target=work, args=(s,), name=f"stage-{s.index}", daemon=True)
                        threads.append(t)
                        t.start()
                if not running:
                    if not errors and len(self.results) < len(stages):
                        raise BuildError("stages wait on each other (a dependency cycle)")
                    break
                idx, result, error = finished.get()
                running -= 1
                if error is not None:
                    errors.append(error)
                elif result is not None:
                    self.results[idx] = result
        finally:
            for t in threads:  # as a pool's exit did: no stage runs on while the build cleans up
                t.join()
        if errors:
            raise errors[0]

    def _run_stage(self, stage: Stage) -> StageResult:
        from pybuild.builder import steps

        started = time.monotonic()
        state = self._start_stage(stage)
        self._step_done(state, started, cached=False)
        instructions = list(stage.instructions)
        onbuild = steps.onbuild_triggers(self, state)
        all_steps = [*onbuild, *instructions]
        state.total = len(instructions) + 1
        state.number = 1
        for instr in all_steps:
            if instr not in onbuild:
                state.number += 1
            started = time.monotonic()
            self._step_done(state, started, cached=self._step(state, instr))
        if state.pending_workdirs and not state.dirty and self.opts.layers:
            steps.flush_workdirs(self, state)
        elif state.dirty or state.pending_workdirs:
            steps.flush_layer(self, state)
        result = StageResult(stage.index, state.container.layers, state.config, state.key, state.evaluator)
        return result

    def _start_stage(self, stage: Stage) -> StageState:
        from pybuild.builder.containerfile.evaluate import StageEvaluator

        prefix = self.prefixes[stage.index]
        total = len(stage.instructions) + 1
        line = stage.from_instruction.line
        emit(self.on_event, STEP, f"{prefix}STEP 1/{total}: {stage.from_instruction.original}", step=1,
             total=total, stage=stage.name or stage.index, line=line)
        base_image: Image | None = None
        parent: StageResult | None = None
        platform = self.stage_platform(stage)
        if stage.base_kind == "scratch":
            config = _platform_config(_scratch_config(), platform)
            config.config.env = [f"PATH={DEFAULT_PATH}"]  # as buildah and BuildKit set it
            key = cache.make_key({"base": "scratch", "platform": str(platform)})
            layers: list[str] = []
        elif stage.base_kind == "stage":
            assert stage.base_stage is not None  # graph.py sets it for every FROM <stage>
            parent = self.results[stage.base_stage]
            config = parent.config.copy()
            key = parent.key
            layers = list(parent.layers)
        else:
            kind, ref = self.named_context(stage.base) if stage.base_kind == "context" else ("image", stage.base)
            if kind == "context":
                return self._start_from_directory(stage, ref, total, prefix)
            base_image = self.resolve_image(ref, line=line, platform=platform)
            with self._lock:
                self.base_layers.update(base_image.layers)
            config = _platform_config(base_image.config, platform)
            # a base used for a platform it does not name (arm/v7 on an arm/v6 image) keys apart,
            # so no step's cached config (naming the other platform) answers for this one
            key = cache.make_key({"base": base_image.id} if config is base_image.config
                                 else {"base": base_image.id, "platform": str(platform)})
            layers = list(base_image.layers)
        wc = WorkingContainer.create(self.store, base_image, config=config, record=False)
        with self._lock:
            self.containers.append(wc)
        if parent is not None:
            wc.set_layers(layers)  # in memory until a step needs the container's directory
        base_env = list(config.config.env)
        evaluator = StageEvaluator(stage, self.graph, base_env=base_env, build_args=self.build_args,
                                   parent=parent.evaluator if parent else None)
        return StageState(stage, wc, config, key, evaluator, total=total, prefix=prefix)

    def _start_from_directory(self, stage: Stage, path: str, total: int, prefix: str) -> StageState:
        """``FROM NAME`` where NAME is a directory build context: its files are the stage's
        first layer (owned by root, as a COPY from a context makes them)."""
        from pybuild.builder import copier
        from pybuild.builder.containerfile.evaluate import StageEvaluator

        config = _scratch_config()
        config.config.env = [f"PATH={DEFAULT_PATH}"]
        root = copier.SourceRoot(path, "context")
        selected = copier.select_sources(root, ["."], where=f"{self.containerfile_name}:{stage.from_instruction.line}")
        key = cache.make_key({"base": "context", "content": copier.hash_sources(selected, root, self.hash_cache)})
        wc = WorkingContainer.create(self.store, None, config=config, record=False)
        with self._lock:
            self.containers.append(wc)
        hit = cache.lookup(self.store, key) if self.opts.layers and not self.opts.no_cache else None
        if hit is not None:
            wc.set_layers(hit.layers)
            config = ImageConfig.from_json(self.store.layout.read_blob(hit.config))
        else:
            with wc.mounted() as rootfs:
                copier.copy_into_rootfs(str(rootfs), selected, "/", "/", copier.CopyOptions())
            config.rootfs_diff_ids.append(wc.commit_layer())
            config.history.append(History(created=self.created(), created_by=f"FROM {stage.base} (build context)"))
            digest, _ = self.store.layout.put_bytes(config.to_json(docker=True), settle=False)  # as a step's
            cache.record(self.store, key, layers=wc.layers, config=str(digest), inputs={"context": path})
        evaluator = StageEvaluator(stage, self.graph, base_env=list(config.config.env), build_args=self.build_args)
        return StageState(stage, wc, config, key, evaluator, total=total, prefix=prefix)

    def _step_done(self, state: StageState, started: float, *, cached: bool) -> None:
        """The step's time goes into the event; renderers show it (BuildKit's "DONE 0.3s")."""
        emit(self.on_event, STEP_DONE, step=state.number or 1, total=state.total,
             stage=state.stage.name or state.stage.index, duration=round(time.monotonic() - started, 3),
             cached=cached)

    def _step(self, state: StageState, instr: Instruction) -> bool:
        """Run or answer one step from the cache; True when the cache answered."""
        from pybuild.builder import steps

        emit(self.on_event, STEP, f"{state.prefix}STEP {state.number}/{state.total}: {instr.original}",
             step=state.number, total=state.total, stage=state.stage.name or state.stage.index,
             line=instr.line)
        try:
            expanded = state.evaluator.expand(instr)
        except ContainerfileError as e:
            if not e.line:
                raise ContainerfileError(e.message, file=self.containerfile_name, line=instr.line) from None
            raise
        handler = steps.handler_for(expanded)
        try:
            key_inputs = handler.key_inputs(self, state, expanded)
        except PybuildError as e:  # an ADD git ref or URL that cannot be resolved, for one
            raise self._at_line(e, instr) from None
        parent_key = state.key
        key = cache.make_key({"parent": parent_key, **key_inputs})
        use_cache = self.opts.layers and not self.opts.no_cache and not handler.never_cached
        if use_cache:
            hit = cache.lookup(self.store, key)
            if hit is None and self.remote is not None:
                hit = self.remote.lookup(state, key, expanded, handler)
                if hit is not None:  # the next local build hits once its layers are here
                    cache.record(self.store, key, layers=hit.layers, config=hit.config,
                                 inputs=key_inputs, parent=parent_key)
            if hit is not None:
                steps.take_hit(self, state, hit, key)
                state.evaluator.apply(expanded)
                handler.replay(state, expanded)
                where = f" (from {hit.source})" if hit.source else ""
                emit(self.on_event, CACHE_HIT, f"--> Using cache {hit.config.hex}{where}",
                     step=state.number, key=key)
                self._seen(state, key, parent_key, hit.layers, hit.config, key_inputs)
                return True
            if self.opts.explain_cache:
                why = cache.explain_miss(self.store, parent_key, key_inputs)
                if self.remote is not None:
                    why += "; remote: " + self.remote.explain(parent_key, key, key_inputs)
                emit(self.on_event, INFO, f"--> Cache miss: {why}", step=state.number, key=key)
        try:
            handler.execute(self, state, expanded)
        except PybuildError as e:
            said = self._at_line(e, instr)
            if said is e:
                raise
            raise said from e
        state.evaluator.apply(expanded)
        state.key = key
        if self.opts.layers:
            config_digest = steps.commit_step(self, state, expanded, handler)
            # recorded even with --no-cache (as buildah does): the next build may use it
            cache.record(self.store, key, layers=state.container.layers, config=config_digest,
                         inputs=key_inputs, parent=parent_key)
            self._seen(state, key, parent_key, state.container.layers, config_digest, key_inputs)
            emit(self.on_event, INFO, f"--> {config_digest.split(':')[1][:12]}")
        else:
            steps.note_step(self, state, expanded, handler)
        return False

    def _seen(self, state: StageState, key: str, parent: str, layers: Sequence[str], config: str,
              inputs: dict[str, Any]) -> None:
        if self.opts.cache_to:
            from pybuild.builder.cache_export import Step

            with self._lock:
                self.steps_seen.append(Step(state.stage.index, key, parent, list(layers), config, inputs))

    # ------------------------------------------------------------------ images

    def resolve_image(self, name: str, *, line: int | None = None, platform: Platform | None = None) -> Image:
        """A base or --from image for ``platform`` (default: the build's target): from the local
        store (per --pull) when it is that platform's, else pulled for it; once per build."""
        from pybuild.oci.spec import Platform

        want = platform or Platform.parse(self.graph.platform)
        with self._lock:
            cached = self._image_cache.get((name, str(want)))
        if cached is not None:
            return cached
        img = self._resolve(name, line, want)
        with self._lock:
            self._image_cache[(name, str(want))] = img
        return img

    def resolve_from(self, stage: Stage, value: str) -> tuple[str, Any]:
        """``COPY --from`` / ``RUN --mount from=`` / a FROM naming a build context:
        ("stage", index) | ("image", name or transport spec) | ("context", directory)."""
        kind, ref = self.graph.resolve_from(stage, value)
        if kind == "context":
            return self.named_context(str(ref))
        return kind, ref

    def named_context(self, name: str) -> tuple[str, str]:
        """A ``--build-context NAME=VALUE`` as ("context", directory) or ("image", reference):
        VALUE is a directory, a git URL, an http(s) URL of an archive, ``docker-image://REF``,
        ``container-image://REF`` (the local store) or ``oci-layout://PATH[:TAG]``, as buildah
        spells them."""
        value = self.opts.build_contexts[name]
        for prefix in ("docker-image://", "container-image://"):
            if value.startswith(prefix):
                return "image", value[len(prefix):]
        if value.startswith("oci-layout://"):
            return "image", "oci:" + value[len("oci-layout://"):]
        from pybuild.builder.git_source import is_git_url

        if is_git_url(value) or value.startswith(("http://", "https://")):
            with self._lock:  # fetched once per build, kept until its end
                if name not in self.remote_contexts:
                    from pybuild.builder import build_input

                    self.remote_contexts[name] = (
                        build_input.git_context(self.resources, self.store, self.opts, value) if is_git_url(value)
                        else build_input.url_context(self.resources, self.store, value))
                return "context", self.remote_contexts[name]
        if "://" in value:
            raise UnsupportedError(f"--build-context {name}={value}: not a context pybuild knows "
                                   "(a directory, a git or http(s) URL, docker-image://, container-image:// "
                                   "or oci-layout://)")
        path = os.path.realpath(value)
        if not os.path.isdir(path):
            raise UserError(f"--build-context {name}={value}: not a directory")
        return "context", path

    def _resolve(self, name: str, line: int | None, platform: Platform) -> Image:
        from pybuild.builder.store_transport import resolve_image

        try:
            return resolve_image(self.store, name, pull=self.opts.pull, on_event=self.on_event,
                                 platform=str(platform), **self.opts.registry)
        except PybuildError as e:
            # the Containerfile line is the place a user looks; the registry goes in the text
            said = e.located(f"{self.containerfile_name}:{line}") if line else e
            if isinstance(e, UnsupportedError | RegistryError):
                raise ImageNotFound(f"image {name} is not in the local store and could not be pulled: "
                                    f"{said.message}", where=said.where) from None
            if said is e:
                raise
            raise said from e

    def _at_line(self, e: PybuildError, instr: Instruction) -> PybuildError:
        """Every error of a step names its line; another place (a path, an image) goes in the
        text. An error that already names a line is itself."""
        if e.where is not None and re.search(r":\d+\Z", e.where):
            return e
        return e.located(f"{self.containerfile_name}:{instr.line}")

    def _write_image(self, final: StageResult) -> Image:
        from pybuild.builder import steps

        return steps.write_final_image(self, final)

    def _cleanup(self) -> None:
        self.resources.close()
        for wc in self.containers:
            with contextlib.suppress(Exception):
                wc.remove()
        self.containers.clear()


def _replace_first_from(doc: Any, image: str) -> Any:
    """``bud --from IMAGE`` (buildah's): the first FROM builds on IMAGE instead."""
    import dataclasses

    for i, node in enumerate(doc.nodes):
        if node.value == "from" and node.args:
            text = " ".join(["FROM", *node.flags, image, *node.args[1:]])
            nodes = list(doc.nodes)
            nodes[i] = dataclasses.replace(node, args=[image, *node.args[1:]], original=text)
            return dataclasses.replace(doc, nodes=nodes)
    return doc


def _display_name(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("../..") else str(path)
    except ValueError:
        return str(path)


def _platform_config(config: ImageConfig, platform: Platform) -> ImageConfig:
    """The stage's config names the platform it is built for (BuildKit sets it so)."""
    from pybuild.oci.platform_host import config_platform

    if config_platform(config).matches(platform):
        return config
    config = config.copy()
    config.os, config.architecture, config.variant = platform.os, platform.architecture, platform.variant
    return config


def build(store: Store, options: BuildOptions, *, sandbox: Sandbox | None = None) -> Image:
    """Build ``options.containerfile`` in ``options.context``; returns the image written.
    ``sandbox`` runs the RUN steps (default: the real isolation; tests pass a fake).
    The context may also be a git or http(s) URL or ``-`` (builder/build_input.py)."""
    from pybuild.builder import build_input

    try:
        if build_input.is_remote(options):
            with build_input.prepared(store, options) as local:
                return Build(store, local, sandbox).run()
        return Build(store, options, sandbox).run()
    except KeyboardInterrupt:
        raise
    except PybuildError:
        raise
    except OSError as e:  # the cause stays chained: `--log-level debug` prints its traceback
        raise BuildError(f"build failed: {e}") from e
    finally:
        sys.stdout.flush()


__all__ = ["build", "Build", "BuildOptions", "IMAGE"]
