"""RUN: the step's command, environment, user and mounts, handed to the sandbox.

Everything a RUN may see beyond the rootfs is a mount: RUN --mount (bind, cache,
tmpfs, secret), -v volumes, and the per-step /etc/hosts and /etc/resolv.conf the
sandbox provides. Secrets are files outside the rootfs, bind-mounted read-only;
their values never reach a layer, the config, the history, a cache key or the logs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder.containerfile import instructions as ins
from pybuild.builder.paths import DEFAULT_PATH, container_join, makedirs_in_root, resolve_in_root
from pybuild.builder.sandbox.network import effective_mode, joined, reusable, unavailable
from pybuild.builder.store import remove_tree
from pybuild.errors import ConfigError, ContextError, StepFailed, UserError
from pybuild.events import OUTPUT, WARNING, emit

if TYPE_CHECKING:
    from pybuild.builder.sandbox.spec import Mount
    from pybuild.builder.step_context import StageState, StepContext
    from pybuild.builder.store import Store


def argv_for(st: StageState, instr: ins.Run) -> list[str]:
    if isinstance(instr.command, list):
        return list(instr.command)
    script = instr.shebang_file()
    if script is not None:
        # BuildKit runs a "#!" heredoc as a file of its own, mounted at /dev/pipes/NAME
        return [f"/dev/pipes/{script.name}"]
    shell = list(st.config.config.shell) or ["/bin/sh", "-c"]
    return [*shell, instr.script()]


def env_for(b: StepContext, st: StageState, *, proxies: bool = True) -> list[str]:
    env = list(st.evaluator.run_env(proxies=proxies))
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    return env


def mount_keys(b: StepContext, st: StageState, instr: ins.Run) -> list[Any]:
    """What each mount contributes to the cache key: a bind by its source's content, a
    cache/tmpfs by its options, a secret by its id and target — never its value."""
    out: list[Any] = []
    for m in instr.mounts:
        if m.type == "bind":
            out.append(["bind", m.target, m.source, m.from_, m.readonly, _bind_content_key(b, st, m, instr.line)])
        elif m.type == "secret":
            out.append(["secret", m.id, m.target, m.env, m.required])
        elif m.type == "ssh":  # by id and target: never the agent's path or its keys
            out.append(["ssh", m.id, m.target, m.required, m.uid, m.gid, m.mode])
        elif m.type == "cache" and m.from_:
            out.append([m.type, m.raw, _bind_content_key(b, st, m, instr.line)])
        else:
            out.append([m.type, m.raw])
    return out


def _bind_content_key(b: StepContext, st: StageState, m: ins.MountSpec, instr_line: int | None) -> str:
    if m.from_:
        kind, ref = b.resolve_from(st.stage, m.from_)
        if kind == "stage":
            return "stage:" + b.results[ref].key
        if kind == "context":
            from pybuild.builder.copier import SourceRoot, hash_sources, select_sources

            root = SourceRoot(ref, "context")
            return "ctx:" + hash_sources(select_sources(root, [m.source or "/"]), root, b.hash_cache)
        return "image:" + b.resolve_image(ref, line=instr_line).id
    from pybuild.builder.copier import SourceRoot, hash_sources, select_sources

    root = SourceRoot(b.context, "context")
    return hash_sources(select_sources(root, [m.source or "/"], instruction="RUN --mount"), root,
                        b.hash_cache)


def run(b: StepContext, st: StageState, instr: ins.Run) -> None:
    from pybuild.builder import sandbox
    from pybuild.builder.sandbox.resolv import hosts_file, resolv_conf  # (a cached RUN writes neither)

    if b.sandbox is None:  # the real one: rootless, a step needs pybuild's user namespace
        from pybuild.builder.sandbox.userns import require_user_namespace

        require_user_namespace()
    ropts = b.opts.run
    security = ropts.security
    isolation, runtime = sandbox.choose_runtime(ropts.isolation, ropts.runtime)
    isolation = isolation or sandbox.default_isolation(ropts.resources)
    mode = step_network(b, instr)
    wc = st.container
    rootfs = str(wc.mountpoint)
    env = env_for(b, st)
    with contextlib.ExitStack() as stack:
        capabilities = _capabilities(b, instr)
        # a step that can change its network namespace gets one of its own, never reused
        pool = b.network_pool() if reusable(capabilities) else None
        net, netns, setup = stack.enter_context(joined(mode, pool))
        mounts = list(_volume_mounts(b))
        mounts.extend(stack.enter_context(_run_mounts(b, st, instr, env)))
        scratch = b.store.scratch_dir("run")
        stack.callback(remove_tree, scratch)
        script = instr.shebang_file()
        if script is not None:
            script_file = scratch / "script"
            script_file.write_text(script.body)
            os.chmod(script_file, 0o755)
            mounts.append(sandbox.Mount(target=f"/dev/pipes/{script.name}", source=str(script_file),
                                        type="bind", readonly=True))
        spec = sandbox.RunSpec(
            rootfs=rootfs, argv=argv_for(st, instr), env=env, cwd=st.config.config.working_dir or "/",
            hostname=wc.id[:12], mounts=mounts, network=net, netns=netns,
            capabilities=capabilities, no_new_privileges=security.no_new_privileges,
            seccomp="unconfined" if instr.security == "insecure" else security.seccomp,
            hosts=None if ropts.no_hosts else hosts_file(ropts.add_hosts, wc.id[:12],
                                                         *((setup.address, setup.gateway) if setup else ())),
            resolv_conf=resolv_conf(mode, ropts.dns, ropts.dns_search, ropts.dns_options,
                                    setup.gateway if setup else None, forwarder=setup.dns if setup else None),
            output=_output(b), scratch_dir=str(scratch), runtime=runtime, resources=ropts.resources,
        )
        from pybuild.builder.copy_step import ensure_workdirs

        if st.pending_workdirs:  # made before the mount points, which would seem to hold them
            with wc.mounted() as plain:
                ensure_workdirs(st, str(plain))
        root = str(stack.enter_context(wc.mounted(sandbox.stub_paths(spec))))
        try:
            uid, gid, groups, home = sandbox.resolve_user(root, st.config.config.user or "")
        except UserError as e:
            raise UserError(f"{e.where}: {e.message}" if e.where else e.message, where=instr.where) from None
        spec.uid, spec.gid, spec.additional_gids = uid, gid, groups
        from pybuild.builder.sandbox.users import with_home

        spec.env = with_home(spec.env, home)
        cwd = spec.cwd
        if not os.path.isdir(resolve_in_root(root, cwd)):
            makedirs_in_root(root, cwd)
        status = (b.sandbox or sandbox).run(spec, isolation)
    if status != 0:
        raise StepFailed(f'building at STEP "{instr.original}": while running runtime: exit status {status}',
                         where=instr.where, status=status)


def _capabilities(b: StepContext, instr: ins.Run) -> list[str]:
    """The step's capabilities: the default set with --cap-add/--cap-drop applied, or, for
    ``RUN --security=insecure`` (BuildKit's, allowed by ``--allow security.insecure``), every
    capability, with seccomp off as well (the caller's part)."""
    from pybuild.builder import sandbox
    from pybuild.builder.sandbox.caps import CAPABILITY_NAMES, apply_cap_changes

    if instr.security == "insecure":
        if "security.insecure" not in b.opts.run.allow:
            raise ConfigError("RUN --security=insecure needs the build to allow it: --allow security.insecure",
                              where=instr.where)
        return list(CAPABILITY_NAMES)
    return apply_cap_changes(list(sandbox.DEFAULT_CAPABILITIES), b.opts.run.cap_add, b.opts.run.cap_drop)


def _output(b: StepContext) -> Callable[[bytes], None]:
    def forward(chunk: bytes) -> None:
        emit(b.on_event, OUTPUT, chunk.decode("utf-8", "replace"))

    return forward


def key_network(b: StepContext, instr: ins.Run) -> str:
    """The network part of a RUN's cache key: the mode it runs with (BuildKit keys its exec op
    by network mode), so a step built with one mode is not reused under another, ``none`` included."""
    if instr.network and instr.network != "default":
        return instr.network
    return effective_mode(b.opts.run.network)


def step_network(b: StepContext, instr: ins.Run) -> str:
    """The network mode one RUN step runs with (host, none, private, ns:PATH).

    ``RUN --network=default`` (or none given) is the build's ``--network``; the build's
    default is private where it can be set up, else host, said once per build.
    ``RUN --network=host`` needs ``--allow network.host`` (BuildKit's entitlement) unless
    the build runs on the host network anyway."""
    ropts = b.opts.run
    build_mode = effective_mode(ropts.network)
    if build_mode == "host" and ropts.network in (None, "", "default") and b.first_network_fallback():
        emit(b.on_event, WARNING, f"private networking cannot be set up ({unavailable()}): "
                                  "RUN steps use the host's network")
    if instr.network == "host" and build_mode != "host" and "network.host" not in ropts.allow:
        raise ConfigError("RUN --network=host needs the build to allow it: --allow network.host",
                          where=instr.where)
    return instr.network if instr.network and instr.network != "default" else build_mode


def _volume_mounts(b: StepContext) -> Iterator[Mount]:
    from pybuild.builder.volumes import parse_volume

    for v in b.opts.run.volumes:
        yield parse_volume(v)


@contextlib.contextmanager
def _run_mounts(b: StepContext, st: StageState, instr: ins.Run, env: list[str]) -> Iterator[list[Mount]]:
    """Set up each RUN --mount (and tear it down after the step)."""
    from pybuild.builder.sandbox import Mount

    mounts: list[Mount] = []
    ssh_index = 0  # BuildKit numbers the default targets of ssh mounts: ssh_agent.0, .1...
    with contextlib.ExitStack() as stack:
        for m in instr.mounts:
            if m.type == "bind":
                mounts.append(stack.enter_context(_bind_mount(b, st, m, instr.line)))
            elif m.type == "cache":
                mounts.append(stack.enter_context(_cache_mount(b, st, m, instr.line)))
            elif m.type == "tmpfs":
                opts = {"size": str(m.size)} if m.size else {}
                mounts.append(Mount(target=m.target, source=None, type="tmpfs", readonly=False, options=opts))
            elif m.type == "secret":
                mnt = stack.enter_context(_secret_mount(b, m, env))
                if mnt is not None:
                    mounts.append(mnt)
            elif m.type == "ssh":
                mnt = stack.enter_context(_ssh_mount(b, m, ssh_index))
                ssh_index += 1
                if mnt is not None:
                    if not any(e.startswith("SSH_AUTH_SOCK=") for e in env):
                        env.append(f"SSH_AUTH_SOCK={container_join(st.config.config.working_dir or '/', mnt.target)}")
                    mounts.append(mnt)
            else:
                raise UserError(f"RUN --mount=type={m.type} is not supported yet", where=instr.where)
        workdir = st.config.config.working_dir or "/"
        for mount in mounts:  # a relative target is under WORKDIR (BuildKit's dispatchRunMounts)
            mount.target = container_join(workdir, mount.target)
        yield mounts


@contextlib.contextmanager
def _from_root(b: StepContext, st: StageState, from_: str, instr_line: int | None) -> Iterator[str]:
    from pybuild.builder.copy_step import from_root

    with from_root(b, st, from_, instr_line) as (_kind, root):
        yield root


@contextlib.contextmanager
def _bind_mount(b: StepContext, st: StageState, m: ins.MountSpec, instr_line: int | None) -> Iterator[Mount]:
    from pybuild.builder.sandbox import Mount
    with contextlib.ExitStack() as stack:
        if m.from_:
            base = stack.enter_context(_from_root(b, st, m.from_, instr_line))
            source = resolve_in_root(base, m.source or "/")
        else:
            base = b.context
            from pybuild.builder.copier import _clean_source

            rel = _clean_source(m.source or ".", "", "context")
            source = resolve_in_root(base, "/" + rel)
        if not os.path.exists(source):
            raise ContextError(f"RUN --mount source {m.source or '/'} does not exist")
        if not m.readonly:
            # writes land in a throw-away upper layer, discarded after the step
            from pybuild.builder.sandbox.overlay import mount_overlay, unmount

            scratch = b.store.scratch_dir("bindrw")
            stack.callback(remove_tree, scratch)
            for d in ("upper", "work", "merged"):
                (scratch / d).mkdir()
            if os.path.isdir(source):
                mount_overlay([source], str(scratch / "upper"), str(scratch / "work"), str(scratch / "merged"))
                stack.callback(unmount, str(scratch / "merged"))
                source = str(scratch / "merged")
            else:
                import shutil

                shutil.copy2(source, scratch / "file")
                source = str(scratch / "file")
        yield Mount(target=m.target, source=source, type="bind", readonly=m.readonly)


@contextlib.contextmanager
def _cache_mount(b: StepContext, st: StageState, m: ins.MountSpec, instr_line: int | None) -> Iterator[Mount]:
    """A cache mount; with ``from=`` it is a cache of its own for that base, made first as a
    copy of the base's ``source`` directory (BuildKit's cache mount over a from state)."""
    cache_id = m.id or m.target
    if m.from_:
        base_key = _bind_content_key(b, st, m, instr_line)
        cache_id = f"{cache_id}\0from={base_key}\0source={m.source or '/'}"
        if not cache_dir_exists(b.store, cache_id):
            with _from_root(b, st, m.from_, instr_line) as base:
                seed = resolve_in_root(base, m.source or "/")
                if not os.path.isdir(seed):
                    raise ContextError(f"RUN --mount=type=cache,from={m.from_}: {m.source or '/'} is not a "
                                       "directory there")
                seed_cache_dir(b.store, cache_id, seed)
    with cache_mount(b.store, cache_id, m.target, sharing=m.sharing, readonly=m.readonly,
                     mode=m.mode, uid=m.uid, gid=m.gid) as mount:
        yield mount


def _cache_path(store: Store, cache_id: str) -> Path:
    return store.root / "cache" / "mounts" / hashlib.sha256(cache_id.encode()).hexdigest()[:32]


def cache_dir_exists(store: Store, cache_id: str) -> bool:
    return _cache_path(store, cache_id).is_dir()


def seed_cache_dir(store: Store, cache_id: str, source: str) -> None:
    """Create cache ``cache_id`` as a copy of ``source`` (aside, then renamed into place, so a
    build killed meanwhile leaves no half-seeded cache)."""
    import shutil

    path = _cache_path(store, cache_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = store.scratch_dir("cacheseed")
    try:
        shutil.copytree(source, scratch / "dir", symlinks=True)
        with contextlib.suppress(FileExistsError, OSError):
            os.rename(scratch / "dir", path)  # another build seeded it first: keep theirs
    finally:
        remove_tree(scratch)


def cache_dir(store: Store, cache_id: str, *, mode: int | None = None, uid: int | None = None,
              gid: int | None = None) -> Path:
    """The store's directory for cache mount ``cache_id`` (made on first use with mode/owner).

    Named by a hash of the id, never by the id itself: an id is text from a Containerfile
    and could hold ``..`` (CVE-2024-9675)."""
    path = _cache_path(store, cache_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _make_cache_dir(path, mode, uid, gid)
    return path


def _make_cache_dir(path: Path, mode: int | None, uid: int | None, gid: int | None) -> None:
    path.mkdir(mode=0o755 if mode is None else mode, exist_ok=True)
    os.chmod(path, 0o755 if mode is None else mode)
    if os.geteuid() == 0:
        os.chown(path, uid or 0, gid or 0)


@contextlib.contextmanager
def cache_mount(store: Store, cache_id: str, target: str, *, sharing: str = "shared", readonly: bool = False,
                mode: int | None = None, uid: int | None = None, gid: int | None = None) -> Iterator[Mount]:
    """A cache mount for a RUN: ``shared`` by everyone at once; ``locked``: one step at a time
    (the others wait); ``private``: a step finding it in use gets a fresh throw-away cache."""
    from pybuild.builder.sandbox import Mount

    path = cache_dir(store, cache_id, mode=mode, uid=uid, gid=gid)
    with contextlib.ExitStack() as stack:
        source = path
        if sharing in ("locked", "private"):
            fd = os.open(path.parent / f"{path.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            stack.callback(os.close, fd)
            if sharing == "locked":
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    scratch = store.scratch_dir("cache")
                    stack.callback(remove_tree, scratch)
                    source = scratch / "cache"
                    _make_cache_dir(source, mode, uid, gid)
        yield Mount(target=target, source=str(source), type="bind", readonly=readonly)


@contextlib.contextmanager
def _secret_mount(b: StepContext, m: ins.MountSpec, env: list[str]) -> Iterator[Mount | None]:
    from pybuild.builder.sandbox import Mount
    secret_id = m.id or os.path.basename(m.target or "")
    source = b.opts.run.secrets.get(secret_id)
    if source is None:
        if m.required:
            raise UserError(f"secret {secret_id!r} is required but was not given (--secret id={secret_id},...)")
        yield None
        return
    if "env" in source:
        value = os.environ.get(source["env"])
        if value is None:
            raise ConfigError(f"secret {secret_id}: environment variable {source['env']} is not set")
        data = value.encode()
    else:
        try:
            with open(source["src"], "rb") as f:
                data = f.read()
        except OSError as e:
            raise ConfigError(f"secret {secret_id}: cannot read {source['src']}: {e.strerror}") from None
    if m.env:
        env.append(f"{m.env}={data.decode('utf-8', 'replace')}")
        if not m.target:
            yield None
            return
    scratch = b.store.scratch_dir("secret")
    in_memory = _private_tmpfs(scratch, len(data))
    try:
        os.chmod(scratch, 0o700)
        path = scratch / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, m.mode if m.mode is not None else 0o400)
        if os.geteuid() == 0:
            os.chown(path, m.uid or 0, m.gid or 0)
        target = m.target or f"/run/secrets/{secret_id}"
        yield Mount(target=target, source=str(path), type="bind", readonly=True)
    finally:
        if in_memory:
            from pybuild.builder.sandbox.overlay import unmount

            unmount(str(scratch))
        remove_tree(scratch)


@contextlib.contextmanager
def _ssh_mount(b: StepContext, m: ins.MountSpec, index: int) -> Iterator[Mount | None]:
    """``--mount=type=ssh``: a relay to the ``--ssh`` agent of ``m.id`` at the target (BuildKit's
    /run/buildkit/ssh_agent.N, N counting this RUN's ssh mounts), 0600 root unless asked."""
    from pybuild.builder.sandbox import Mount
    from pybuild.builder.ssh_forward import relay

    sid = m.id or "default"
    agent = b.ssh_socket(sid)
    if agent is None:
        if m.required:
            raise UserError(f"ssh agent {sid!r} is required but was not given (--ssh {sid}[=SOCKET|KEY])")
        yield None
        return
    target = m.target
    if index and target == "/run/buildkit/ssh_agent.0" and not any(
            f.strip().lower().startswith(("target=", "dst=", "destination=")) for f in m.raw.split(",")):
        target = f"/run/buildkit/ssh_agent.{index}"
    scratch = b.store.scratch_dir("ssh-mount")
    try:
        os.chmod(scratch, 0o711)  # the relay socket's own mode decides who may connect
        with relay(agent, scratch / "agent.sock", m.uid or 0, m.gid or 0,
                   m.mode if m.mode is not None else 0o600) as sock:
            yield Mount(target=target, source=sock, type="bind", readonly=True)
    finally:
        remove_tree(scratch)


def _private_tmpfs(path: Path, size: int) -> bool:
    """Mount a small tmpfs on ``path`` so a secret never reaches the store's disk, even if
    pybuild is killed (the next command unmounts a dead build's scratch dirs); False when
    mounting is not allowed (the secret then lives in the 0700 scratch dir)."""
    from pybuild.builder.sandbox import linux

    try:
        linux.mount("tmpfs", str(path), "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                    f"mode=0700,size={size + 65536},nr_inodes=16")
    except OSError:
        return False
    return True
