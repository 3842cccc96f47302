"""The library surface re-exported by ``pybuild/__init__.py``: a store, its working
containers, and the build / pull / push / copy / inspect operations.

Everything here is a thin, typed front over the engine (``pybuild.builder``) and the
formats (``pybuild.oci``): the same code the command line runs. Nothing prints;
long operations report :class:`pybuild.Event` values to an ``on_event`` callback.
Every error raised on purpose is a :class:`pybuild.PybuildError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder import store as _store
from pybuild.builder.store import Image, default_root

if TYPE_CHECKING:
    from pybuild.builder.multiplatform import MultiPlatformResult
    from pybuild.builder.workflow import PruneReport
from pybuild.events import EventCallback
from pybuild.oci.digest import Digest

StrPath = str | os.PathLike[str]


class Store(_store.Store):
    """The local image store at ``root`` (default: :func:`default_root`): images, layers,
    the build cache and working containers. Cheap to open; created on first use.

    Besides the image methods (``images()``, ``image(ref)``, ``find_image(ref)``,
    ``tag(ref, *names)``, ``remove_image(ref)``), it makes and finds working containers."""

    def __init__(self, root: StrPath | None = None, *, storage_driver: str | None = None,
                 mount_program: str | None = None, storage_opts: Sequence[str] | None = None) -> None:
        """``storage_opts``: containers/storage's ``--storage-opt`` values (only
        ``overlay.mount_program=PATH``; ``[]`` reads $STORAGE_OPTS, as the command line does)."""
        if storage_opts is not None and mount_program is None:
            from pybuild.builder.storage_opts import mount_program as program_of

            mount_program = program_of(storage_opts)
        super().__init__(root if root is not None else default_root(), storage_driver=storage_driver,
                         mount_program=mount_program)
        from pybuild.builder.recovery import on_open

        on_open(self)  # what dead processes left, if one died; registers this one as an owner

    def image_size(self, image: Image) -> int:
        """What ``pybuild images`` shows as SIZE: the uncompressed size of the image's layers,
        the same however it arrived (built, or pulled and measured on the way in)."""
        from pybuild.builder.store_transport import image_size

        return image_size(self, image)

    def from_image(self, image: str = "scratch", *, name: str | None = None, pull: str = "missing",
                   security_opts: Sequence[str] = (), platform: str | None = None, cidfile: StrPath | None = None,
                   run_defaults: Mapping[str, Any] | None = None, on_event: EventCallback | None = None,
                   **registry_options: Any) -> WorkingContainer:
        """A new working container on ``image`` (a name, ID, transport spec, or ``scratch``),
        pulled first if needed per ``pull`` (always | missing | never, or buildah's true, false,
        ifmissing...). Named like buildah's: ``busybox-working-container``, then ``-1``, ``-2``...
        unless ``name`` is given. ``security_opts`` (``seccomp=unconfined|FILE``,
        ``no-new-privileges``...) apply to its runs; ``run_defaults`` (``from``'s isolation,
        network, cap_add, cap_drop, volumes, add_hosts, dns, dns_search, dns_options, resources)
        are where each run starts from. ``cidfile`` gets its ID. The container is recorded in
        the store and outlives this process."""
        from pybuild.builder import workflow
        from pybuild.builder.build_request import pull_policy

        if platform:
            registry_options["platform"] = platform
        wc = workflow.from_image(self, image, name=name, pull=pull_policy(pull), security_opts=security_opts,
                                 cidfile=os.fspath(cidfile) if cidfile is not None else None,
                                 run_defaults=run_defaults, on_event=on_event, **registry_options)
        return WorkingContainer(wc, on_event)

    def container(self, ref: str) -> WorkingContainer:
        """The working container called ``ref`` (name, ID or ID prefix)."""
        from pybuild.builder import workflow

        return WorkingContainer(workflow.get(self, ref))

    def containers(self, *, all: bool = False) -> list[WorkingContainer]:
        """Every working container made by :meth:`from_image` (or ``pybuild from``); ``all``:
        also those builds make for themselves."""
        from pybuild.builder import workflow

        return [WorkingContainer(wc) for wc in workflow.containers(self, all=all)]

    def remove_dead_build_containers(self) -> list[str]:
        """Remove the containers builds made for themselves whose process died (after a crash
        or a kill), as ``rm --all`` does; returns their IDs."""
        from pybuild.builder.container import cleanup_dead

        return cleanup_dead(self)

    def check(self, *, quiescent: bool = False) -> list[str]:
        """Problems in the store, one line each: every record checked as ``inspect``, ``from``
        and ``push`` rely on it; ``quiescent`` (no other process at work) also reports
        leftovers and mounts (see :mod:`pybuild.builder.fsck`)."""
        from pybuild.builder.fsck import check

        return check(self, quiescent=quiescent)

    def gc(self) -> dict[str, int]:
        """Remove the layers and blobs nothing uses (images, containers, the cache, manifest
        lists, other processes' leases); returns counts and bytes freed."""
        from pybuild.builder.garbage import collect

        return collect(self)

    def prune(self, *, all_images: bool = False, force: bool = False,
              on_event: EventCallback | None = None) -> PruneReport:
        """Free space: dangling images (``all_images``: every image no container uses), the
        build cache, and the layers and blobs nothing uses any more; ``force`` also removes
        the working containers using the images pruned."""
        from pybuild.builder import workflow

        return workflow.prune(self, all_images=all_images, force=force, on_event=on_event)


def _open(store: Store | StrPath | None, storage_driver: str | None = None,
          storage_opts: Sequence[str] | None = None) -> Store:
    if isinstance(store, Store):
        return store
    if isinstance(store, _store.Store):
        return Store(store.root, storage_driver=store.storage_driver, mount_program=store.mount_program)
    return Store(store, storage_driver=storage_driver, storage_opts=storage_opts)


class WorkingContainer:
    """A container being built by hand, buildah-style: run commands, copy files, edit the
    config, commit. Get one from :meth:`Store.from_image` or :meth:`Store.container`.

    Its state is kept in the store after each call, so another process (or the
    ``pybuild`` command) can pick it up by name. ``on_event`` given to
    :meth:`Store.from_image` is used by every call that does not pass its own."""

    def __init__(self, wc: Any, on_event: EventCallback | None = None) -> None:
        self._wc = wc
        self.on_event = on_event

    def __repr__(self) -> str:
        return f"<pybuild.WorkingContainer {self.name!r} from {self.image!r}>"

    def _events(self, on_event: EventCallback | None) -> EventCallback | None:
        return on_event if on_event is not None else self.on_event

    @property
    def name(self) -> str:
        return self._wc.name

    @property
    def id(self) -> str:
        return self._wc.id

    @property
    def image(self) -> str:
        """The name (or ID) of the image the container started from; ``scratch`` if none."""
        return self._wc.state.image_name or "scratch"

    @property
    def store(self) -> Store:
        return _open(self._wc.store)

    @property
    def image_config(self) -> dict[str, Any]:
        """The image config the next commit will write (OCI JSON keys), as a fresh dict."""
        import json

        result: dict[str, Any] = json.loads(self._wc.config.to_json(docker=True))
        return result

    def run(self, command: Sequence[str] | str, *, env: Mapping[str, str] | Sequence[str] | None = None,
            user: str | None = None, workdir: str | None = None, isolation: str | None = None,
            network: str | None = "default", volumes: Sequence[str] = (), mounts: Sequence[str] = (),
            security_opts: Sequence[str] = (), check: bool = True, output: Callable[[bytes], None] | None = None,
            on_event: EventCallback | None = None, **run_options: Any) -> int:
        """Run ``command`` (an argv list, or a string for ``/bin/sh -c``) inside the container.

        Its output goes to ``output`` if given, else to ``on_event`` as "output" events.
        ``env``: a mapping or KEY=VALUE words; ``volumes`` are ``SRC:DST[:ro]``; ``mounts`` are
        ``type=bind,src=..,dst=..``, ``type=tmpfs,dst=..`` or ``type=cache,dst=..[,id=..]``.
        Returns the exit status; a non-zero status raises :class:`pybuild.StepFailed` unless
        ``check`` is false. ``security_opts`` add to the container's own (``seccomp=unconfined``...).
        ``run_options`` are the rest of ``pybuild run``'s flags: ``cap_add``, ``cap_drop``,
        ``add_hosts``, ``no_hosts``, ``hostname``, ``stdin`` (pass standard input), ``runtime``
        (an OCI runtime: means oci isolation, see :func:`choose_runtime`) and ``resources``."""
        from pybuild.builder import workflow
        from pybuild.builder.sandbox import choose_runtime

        isolation, runtime = choose_runtime(isolation, run_options.pop("runtime", None))
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        extra = [workflow.parse_volume(v) for v in volumes] + [workflow.parse_mount(m, self._wc.store) for m in mounts]
        words = dict(env) if isinstance(env, Mapping) else list(env or ())
        return workflow.run(self._wc, argv, env=words, user=user, workdir=workdir, isolation=isolation,
                            network=network, mounts=extra, security_opts=security_opts, check=check,
                            output=output, runtime=runtime, on_event=self._events(on_event), **run_options)

    def copy(self, src: StrPath | Sequence[StrPath], dest: str, *, chown: str | None = None,
             chmod: str | None = None, from_: str | None = None, on_event: EventCallback | None = None) -> None:
        """Copy host path(s) ``src`` to ``dest`` in the container, with COPY's rules (a
        directory copies its contents; files become root's unless ``chown``). With
        ``from_`` (a container or image), ``src`` names paths inside that instead."""
        from pybuild.builder import workflow

        workflow.copy(self._wc, _paths(src), dest, chown=chown, chmod=chmod, from_=from_,
                      on_event=self._events(on_event))

    def add(self, src: StrPath | Sequence[StrPath], dest: str, *, chown: str | None = None,
            chmod: str | None = None, checksum: str | None = None, from_: str | None = None,
            on_event: EventCallback | None = None) -> None:
        """Like :meth:`copy`, and also fetches http(s) URLs (``checksum``: ``sha256:HEX`` to
        verify) and unpacks local tar archives (plain, gzip, bzip2, xz, zstd)."""
        from pybuild.builder import workflow

        workflow.copy(self._wc, _paths(src), dest, chown=chown, chmod=chmod, from_=from_, add=True,
                      checksum=checksum, on_event=self._events(on_event))

    def config(self, *, cmd: Sequence[str] | str | None = None, entrypoint: Sequence[str] | str | None = None,
               env: Mapping[str, str] | Sequence[str] | None = None, unset_env: Sequence[str] = (),
               labels: Mapping[str, str] | Sequence[str] | None = None,
               annotations: Mapping[str, str] | Sequence[str] | None = None,
               user: str | None = None, workdir: str | None = None, ports: Sequence[str] = (),
               volumes: Sequence[str] = (), shell: Sequence[str] | str | None = None, stop_signal: str | None = None,
               healthcheck: Sequence[str] | str | None = None, healthcheck_interval: str | None = None,
               healthcheck_timeout: str | None = None, healthcheck_start_period: str | None = None,
               healthcheck_start_interval: str | None = None, healthcheck_retries: int | None = None,
               onbuild: Sequence[str] = (), author: str | None = None, created_by: str | None = None,
               comment: str | None = None, arch: str | None = None, os: str | None = None,
               variant: str | None = None, on_event: EventCallback | None = None) -> None:
        """Change the image config the container will be committed with (``pybuild config``).

        A string ``cmd`` (or ``shell``) is a JSON array or shell words; a string ``entrypoint``
        runs under ``/bin/sh -c``. ``env``, ``labels`` and ``annotations`` are mappings or
        ``pybuild config``'s words (``KEY=VALUE``, ``KEY-`` removes); values in ``env`` may use
        ``$VAR`` from the current Env. SHELL, HEALTHCHECK and ONBUILD are kept only by
        ``commit(format="docker")``; ``created_by`` and ``comment`` go to the next commit's history."""
        from pybuild.builder import workflow

        changes = workflow.ConfigChanges(
            cmd=_listed(cmd), entrypoint=_listed(entrypoint),
            env=_words(env) + [f"{k}-" for k in unset_env], labels=_words(labels), annotations=_words(annotations),
            user=user, workdir=workdir, ports=[str(p) for p in ports], volumes=list(volumes),
            shell=_listed(shell), stop_signal=stop_signal, healthcheck=_listed(healthcheck),
            healthcheck_interval=healthcheck_interval, healthcheck_timeout=healthcheck_timeout,
            healthcheck_start_period=healthcheck_start_period, healthcheck_start_interval=healthcheck_start_interval,
            healthcheck_retries=healthcheck_retries, onbuild=list(onbuild), author=author,
            created_by=created_by, comment=comment, arch=arch, os=os, variant=variant)
        workflow.apply_config(self._wc, changes, on_event=self._events(on_event))

    def commit(self, name: str | None = None, *, format: str | None = None, squash: bool = False,
               timestamp: int | None = None, rm: bool = False, iidfile: StrPath | None = None,
               manifest: str | None = None, unsetenv: Sequence[str] = (), omit_history: bool = False,
               on_event: EventCallback | None = None, **registry_options: Any) -> Image:
        """Write the container's changes as a layer and its config as an image called ``name``
        (or a transport destination such as ``oci:DIR:TAG``). ``format``: see :func:`commit_format`;
        ``timestamp``: created time and new files' mtimes; ``rm``: remove the container after;
        ``iidfile`` gets the image ID; ``manifest``: the image joins that list (made when absent);
        ``unsetenv``: variables left out of the image's Env; ``omit_history``: no history."""
        from pybuild.builder import workflow

        return workflow.commit(self._wc, name, format=commit_format(format), squash=squash, timestamp=timestamp,
                               rm=rm, iidfile=os.fspath(iidfile) if iidfile is not None else None,
                               manifest=manifest, unsetenv=unsetenv, omit_history=omit_history,
                               on_event=self._events(on_event), **registry_options)

    def mount(self) -> Path:
        """Mount the root filesystem and return its path; it stays mounted until :meth:`unmount`."""
        from pybuild.builder import workflow

        return workflow.mount(self._wc)

    def unmount(self) -> None:
        """Unmount the root filesystem (the container and its changes stay)."""
        from pybuild.builder import workflow

        workflow.unmount(self._wc)

    @property
    def mountpoint(self) -> Path | None:
        """Where the root filesystem is mounted, or None when it is not."""
        from pybuild.builder import workflow

        return self._wc.mountpoint if workflow.is_mounted(self._wc) else None

    def rename(self, new_name: str) -> None:
        """Give the container another name (unique in the store)."""
        from pybuild.builder import workflow

        workflow.rename(self._wc.store, self._wc, new_name)

    def remove(self) -> None:
        """Unmount and delete the container (the images it committed stay)."""
        from pybuild.builder import workflow

        workflow.remove(self._wc)

    def describe(self) -> dict[str, Any]:
        """The container as ``pybuild containers --json`` shows it (buildah's keys: id,
        imageid, imagename, containername, mounted, mountpoint...)."""
        from pybuild.builder import workflow

        return workflow.describe(self._wc)

    def inspect(self) -> dict[str, Any]:
        """What ``pybuild inspect --type container`` shows."""
        from pybuild.builder.inspect import inspect_container

        return inspect_container(self._wc.store, self.id)


def commit_format(format: str | None) -> str:
    """The image format a commit writes: ``oci`` or ``docker`` (``v2s2`` is docker's other
    name), as given, else ``$BUILDAH_FORMAT``, else oci; anything else is one ConfigError line."""
    from pybuild.errors import ConfigError

    fmt = (format or os.environ.get("BUILDAH_FORMAT") or "oci").lower()
    fmt = "docker" if fmt == "v2s2" else fmt
    if fmt not in ("oci", "docker"):
        raise ConfigError(f"invalid --format {fmt!r} (oci or docker)")
    return fmt


def _listed(value: Sequence[str] | str | None) -> list[str] | str | None:
    """A command as given: a string (JSON array or words, read by the config) or an argv list."""
    return value if value is None or isinstance(value, str) else list(value)


def _words(items: Mapping[str, str] | Sequence[str] | None) -> list[str]:
    """KEY=VALUE words from a mapping, or the words as given (``KEY-`` removes)."""
    if isinstance(items, Mapping):
        return [f"{k}={v}" for k, v in items.items()]
    return list(items or ())


def _paths(src: StrPath | Sequence[StrPath]) -> list[str]:
    if isinstance(src, str | os.PathLike):
        return [os.fspath(src)]
    return [os.fspath(s) for s in src]


def build(context: StrPath = ".", file: StrPath | None = None, tags: Sequence[str] = (),
          build_args: Mapping[str, str] | Sequence[str] | None = None, target: str | None = None, *,
          store: Store | StrPath | None = None, storage_driver: str | None = None,
          storage_opts: Sequence[str] | None = None, on_event: EventCallback | None = None,
          **options: Any) -> Image:
    """Build the Containerfile (``file``, default ``Containerfile`` or ``Dockerfile`` in
    ``context``; or ``containerfile_text``) and return the image, named by ``tags``: what
    ``pybuild bud`` does, with every one of its flags as a keyword of the same name
    (``--no-cache`` is ``no_cache=True``, ``--cap-add`` ``cap_add=[...]``), spelled as there.

    ``on_event`` receives a "step" event as each step starts, "cache-hit" when a step
    comes from the cache, "output" for what RUN steps print, and "image" at the end.
    Some keywords: ``layers``, ``no_cache``, ``pull`` (always | missing | never, or buildah's
    true/false/ifmissing), ``format`` (oci | docker; default ``$BUILDAH_FORMAT``, else oci),
    ``labels``/``annotations``/``env`` (a mapping, or KEY=VALUE words), ``squash``, ``timestamp``,
    ``isolation``, ``network``, ``security_opts`` (buildah's ``--security-opt`` values), ``jobs``
    (stages at once), ``secrets`` (``id=ID,src=PATH`` | ``id=ID,env=VAR``), ``outputs`` (``-o``
    values: ``type=local,dest=DIR``, ``type=tar,dest=FILE``), ``platform`` (``linux/arm64``...:
    its RUN steps must be able to run here, ``pybuild info`` lists which; several at once:
    :func:`build_platforms`), ``build_contexts``, ``registry`` (tls_verify, creds... for FROM).
    ``context`` may be a git URL (``URL#REF[:SUBDIR]``), an http(s) URL of an archive or a
    Containerfile, or ``"-"`` with ``context_stream`` (a binary file: a tar or a Containerfile).
    ``ssh`` takes ``--ssh`` spellings (``default``, ``ID=SOCKET``, ``ID=KEY``) for RUN
    ``--mount=type=ssh``; ``cpp_flags`` go to cpp for a ``.in`` Containerfile.
    ``cache_from`` and ``cache_to`` name remote step caches as ``bud --cache-from/--cache-to`` spell them
    (``REPO`` or ``type=registry,ref=REPO:TAG[,mode=max]`` or ``type=local,dest|src=DIR``). ``resources``
    is what bud's --memory, --ulimit... give RUN steps, as keywords of
    ``pybuild.builder.sandbox.resources.parse_resources`` (``{"memory": "512m",
    "ulimits": ["nofile=1024"], "shm_size": "1g", "devices": ["/dev/fuse"]}``).
    ``sbom`` (``spdx-json`` | ``cyclonedx-json``) and ``provenance`` (``min`` | ``max``) make
    attestations of the image, kept with it and attached when it is pushed (:func:`attestations`).
    A bad value is one ConfigError line, before anything is built or ``store`` (a path, opened
    with ``storage_driver``) is opened."""
    from pybuild.builder.executor import build as run_build

    request = _request(context, file, tags, build_args, target, on_event, options)
    if request.multi_platform:  # (a property, so one image imports no multiplatform)
        from pybuild.errors import ConfigError

        asked = f"--platform {request.platform}" if request.platform and "," in request.platform else "--all-platforms"
        raise ConfigError(f"{asked}: one build makes one image (several platforms: pybuild.build_platforms)")
    s = _open(store, storage_driver, storage_opts)  # opened once the request is good: a bad flag leaves no store
    with s.leased():  # what the build writes is protected from other processes' gc until recorded
        return run_build(s, request)


def build_platforms(context: StrPath = ".", file: StrPath | None = None, tags: Sequence[str] = (),
                    build_args: Mapping[str, str] | Sequence[str] | None = None, target: str | None = None, *,
                    store: Store | StrPath | None = None, storage_driver: str | None = None,
                    storage_opts: Sequence[str] | None = None, on_event: EventCallback | None = None,
                    **options: Any) -> MultiPlatformResult:
    """:func:`build` for several platforms (``platform="linux/amd64,linux/arm64"``, or
    ``all_platforms=True``: each one the base image's index lists), side by side; each ``tags``
    name (and ``manifest``) becomes a manifest list of exactly the images built."""
    from pybuild.builder.multiplatform import build_platforms as run_platforms

    request = _request(context, file, tags, build_args, target, on_event, options)
    if not request.multi_platform:
        from pybuild.errors import ConfigError

        raise ConfigError("build_platforms builds several platforms (one: use pybuild.build)")
    s = _open(store, storage_driver, storage_opts)
    with s.leased():
        return run_platforms(s, request)


def _request(context: StrPath, file: StrPath | None, tags: Sequence[str],
             build_args: Mapping[str, str] | Sequence[str] | None, target: str | None,
             on_event: EventCallback | None, options: dict[str, Any]) -> Any:
    from pybuild.builder.build_request import build_options

    return build_options(context, file, tags=tags, build_args=build_args, target=target, on_event=on_event,
                         **options)


def sbom_of(image: str, *, store: Store | StrPath | Callable[[], Store] | None = None, format: str = "spdx-json",
            platform: str | None = None, epoch: int | None = None, output: StrPath | None = None,
            **registry_options: Any) -> bytes:
    """The SBOM (SPDX 2.3 or CycloneDX 1.5 JSON, ``format`` ``spdx-json`` | ``cyclonedx-json``) of
    ``image``: a store image, or any transport spec (``oci:DIR:tag``, ``docker://REF``...), read
    offline by pybuild's catalogers (dpkg, apk, Python, npm, Go binaries). ``epoch`` dates it
    (default: $SOURCE_DATE_EPOCH when set, for a reproducible document; else now). ``output``:
    also written there, atomically. ``store`` may be a function that opens it, called only
    when ``image`` is a store image."""
    from pybuild.oci.transport import is_transport_spec
    from pybuild.sbom.image import sbom as make

    s = None if is_transport_spec(image) else _open(store() if callable(store) else store)
    when = epoch if epoch is not None else _source_date_epoch()
    data = make(s, image, format, platform=platform, epoch=when, **registry_options)
    if output is not None:
        from pybuild.oci.layout import atomic_write_file

        atomic_write_file(output, data)
    return data


def _source_date_epoch() -> int | None:
    """$SOURCE_DATE_EPOCH as an integer, or None when unset (a bad value is one line)."""
    from pybuild.errors import ConfigError

    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r}: not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r}: negative")
    return value


def attestations(image: str, *, store: Store | StrPath | None = None, **registry_options: Any) -> list[dict[str, Any]]:
    """The attestations of ``image``: a store image's as its build recorded them (predicate type,
    digest, predicate), a transport's (``oci:``, ``docker://``) as its index carries them (the
    in-toto statements and the manifest each is about)."""
    from pybuild.builder.attest import inspect_attestations
    from pybuild.oci.transport import is_transport_spec

    s = None if is_transport_spec(image) else _open(store)
    return inspect_attestations(s, image, **registry_options)


def pull(source: str, *, store: Store | StrPath | None = None, name: str | None = None,
         platform: str | None = None, policy: str = "always", on_event: EventCallback | None = None,
         **registry_options: Any) -> Image:
    """Copy an image into the store: a registry reference (``busybox``, ``host:5000/a/b:1``)
    or a transport spec (``oci:DIR[:REF]``, ``oci-archive:``, ``docker-archive:``, ``dir:``,
    ``docker://``), named as buildah names it (``oci:DIR:REF`` -> ``localhost/DIR``) unless
    ``name`` is given. ``policy``: ``always`` copies; ``missing`` keeps an image of that name
    already in the store; ``never`` only looks in the store (ImageNotFound otherwise).
    Registry options: ``tls_verify``, ``creds``, ``authfile``, ``cert_dir``, ``retry`` (a count, as
    ``--retry``) and ``retry_delay`` (``"2s"``)."""
    from pybuild.builder.store_transport import pull_into_store, pull_names, pull_spec
    from pybuild.errors import ConfigError, ImageNotFound

    if policy not in ("always", "missing", "never"):
        raise ConfigError(f"invalid pull policy {policy!r} (always, missing or never)")
    s = _open(store)
    spec = pull_spec(source)
    if policy != "always":
        names = [name] if name else pull_names(spec)
        found = s.find_image(names[0]) if names else None
        if found is not None:
            return found
        if policy == "never":
            raise ImageNotFound(f"image {names[0] if names else source} is not in the local store (--policy=never)")
    with s.leased():
        return pull_into_store(s, spec, names=[name] if name else None, platform=platform,
                               on_event=on_event, **registry_options)


def push(image: str, destination: str | None = None, *, store: Store | StrPath | None = None,
         format: str | None = None, compression: str | None = None, on_event: EventCallback | None = None,
         **registry_options: Any) -> Digest:
    """Copy ``image`` (or a manifest list and its instances) from the store to ``destination``
    (a transport spec, or a registry reference; default ``docker://IMAGE``); returns the digest
    of the manifest written. ``format`` (``oci``, ``docker`` or its alias ``v2s2``) and
    ``compression`` (``gzip``, ``zstd``, ``none``) default to what the image was built with."""
    from pybuild.builder.manifest_list import push_named
    from pybuild.oci.transport import is_transport_spec

    s = _open(store)
    if destination is None:
        destination = image
    dest = destination if is_transport_spec(destination) else f"docker://{destination}"
    with s.leased():
        return push_named(s, image, dest, format="docker" if format == "v2s2" else format,
                          compression=compression, on_event=on_event, **registry_options)


def copy(source: str, destination: str, *, platform: str | None = None, all_platforms: bool = False,
         format: str | None = None, compression: str | None = None,
         source_options: Mapping[str, Any] | None = None, destination_options: Mapping[str, Any] | None = None,
         on_event: EventCallback | None = None) -> Digest:
    """``skopeo copy``: move an image between two transports without a store (bytes kept
    exact unless ``format`` -- oci, docker or its alias v2s2 -- or ``compression`` asks for a
    change); returns the manifest digest. A bare reference means ``docker://REF``."""
    from pybuild.oci.transport import copy as transport_copy
    from pybuild.remote import remote_spec

    return transport_copy(remote_spec(source), remote_spec(destination), source_options=dict(source_options or {}),
                          destination_options=dict(destination_options or {}), platform=platform,
                          all_platforms=all_platforms, format="docker" if format == "v2s2" else format,
                          compression=compression, on_event=on_event)


def inspect(ref: str, *, store: Store | StrPath | None = None, type: str | None = None) -> dict[str, Any]:
    """What ``pybuild inspect`` shows for a working container or an image of the store
    (``type``: "container" or "image"; default: a container if one has that name)."""
    from pybuild.builder.inspect import inspect_container, inspect_image
    from pybuild.errors import ConfigError, ContainerNotFound, ImageNotFound

    s = _open(store)
    if type == "image":
        return inspect_image(s, ref)
    if type == "container":
        return inspect_container(s, ref)
    if type is not None:
        raise ConfigError(f"invalid inspect type {type!r} (container or image)")
    try:
        return inspect_container(s, ref)
    except ContainerNotFound:
        pass
    try:
        return inspect_image(s, ref)
    except ImageNotFound:
        raise ImageNotFound(f"no image or container named {ref}") from None


def format_inspect(info: Mapping[str, Any], template: str) -> str:
    """``inspect --format TEMPLATE``: Go's text/template over what :func:`inspect` returned,
    with buildah's field names (``{{.OCIv1.Config.Env}}``, ``{{.FromImageID}}``...)."""
    from pybuild.builder.inspect import format_info

    return format_info(dict(info), template)


def import_tarball(path: StrPath, name: str | None = None, *, store: Store | StrPath | None = None,
                   changes: Sequence[str] = (), message: str = "", platform: str | None = None,
                   on_event: EventCallback | None = None) -> Image:
    """``podman import``: an image whose one layer is the root filesystem tarball at ``path``
    (plain, gzip, zstd, bzip2 or xz); ``changes`` are CMD/ENV/... instructions for its config."""
    from pybuild.builder.importer import import_tarball as _import

    s = _open(store)
    with s.leased():
        return _import(s, os.fspath(path), name, changes=tuple(changes), message=message, platform=platform,
                       on_event=on_event)


__all__ = ["Store", "WorkingContainer", "Image", "build", "pull", "push", "copy", "inspect", "format_inspect",
           "commit_format",
           "import_tarball", "sbom_of", "attestations", "default_root"]
