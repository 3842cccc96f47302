"""Contexts and Containerfiles that are not a local directory and file, made local first.

As buildah and ``docker build`` take them: a git URL context (``URL#REF[:SUBDIR]``) is checked
out; an http(s) URL context is an archive (unpacked, safely) or a Containerfile (then the
context is empty); ``-`` reads the same from a stream (stdin); ``-f URL`` downloads the
Containerfile. A Containerfile whose name ends in ``.in`` goes through cpp as buildah runs it
(``-E -iquote CONTEXT -traditional -undef``, then $BUILDAH_CPPFLAGS and ``--cpp-flag``).
Everything made lives in the store's scratch space for the build and is removed after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.errors import ConfigError, ContainerfileError, ContextError, UserError

if TYPE_CHECKING:
    from pybuild.builder.options import BuildOptions
    from pybuild.builder.store import Store


def is_remote(options: BuildOptions) -> bool:
    """Whether ``prepared`` has anything to do (a local build imports nothing more)."""
    ctx = options.context
    cf = options.containerfile or ""
    return (options.context_stream is not None or ctx == "-" or "://" in ctx or ctx.startswith("git@")
            or cf.startswith(("http://", "https://")))


@contextlib.contextmanager
def prepared(store: Store, options: BuildOptions) -> Iterator[BuildOptions]:
    """``options`` with a local context directory (and Containerfile text where downloaded)."""
    from pybuild.builder import git_source
    from pybuild.builder.copy_step import is_http

    with contextlib.ExitStack() as stack:
        opts = options
        ctx = opts.context
        if opts.context_stream is not None or ctx == "-":
            opts = _from_file(stack, store, opts, stack.enter_context(_spooled(store, opts.context_stream)), "stdin")
        elif git_source.is_git_url(ctx):
            opts = dataclasses.replace(opts, context=git_context(stack, store, opts, ctx))
        elif is_http(ctx):
            from pybuild.builder.copy_step import download

            sel = stack.enter_context(download(store, ctx, where=f"build context {ctx}"))
            opts = _from_file(stack, store, opts, sel.host, ctx)
        elif "://" in ctx:
            raise ConfigError(f"build context {ctx}: only git and http(s) URLs are taken")
        cf = opts.containerfile or ""
        if cf.startswith(("http://", "https://")):
            from pybuild.builder.copy_step import download

            sel = stack.enter_context(download(store, cf, where=f"-f {cf}"))
            opts = dataclasses.replace(opts, containerfile_text=_text(sel.host, cf))
        yield opts


def git_context(stack: contextlib.ExitStack, store: Store, opts: BuildOptions, url: str) -> str:
    """A git URL checked out for the build (a context or a ``--build-context``); over ssh
    through the ``--ssh default`` agent, else the caller's $SSH_AUTH_SOCK (as buildah's clone)."""
    from pybuild.builder import git_source

    src = git_source.parse(url)
    sock = None
    if src.is_ssh:
        if "default" in opts.run.ssh:
            from pybuild.builder.ssh_forward import Agents

            agents = Agents(store, opts.run.ssh)
            stack.callback(agents.close)
            sock = agents.socket("default")
        else:
            sock = os.environ.get("SSH_AUTH_SOCK")
    commit, refname = git_source.resolve(src, sock)
    return stack.enter_context(git_source.checkout(
        store, src, commit, refname, ssh_socket=sock,
        commit_mtimes=opts.output.source_date_epoch is not None or "SOURCE_DATE_EPOCH" in opts.build_args))


def url_context(stack: contextlib.ExitStack, store: Store, url: str) -> str:
    """An http(s) archive unpacked for the build (a ``--build-context NAME=URL``)."""
    from pybuild.builder.copy_step import _is_archive, download
    from pybuild.builder.store import remove_tree

    sel = stack.enter_context(download(store, url, where=f"build context {url}"))
    if not _is_archive(sel.host):
        raise ContextError(f"build context {url}: not a tar archive")
    scratch = store.scratch_dir("context")
    stack.callback(remove_tree, scratch)
    from pybuild.oci.layer import apply_layer

    with open(sel.host, "rb") as f:
        apply_layer(f, scratch, whiteouts="apply")
    return str(scratch)


@contextlib.contextmanager
def _spooled(store: Store, stream: Any) -> Iterator[str]:
    """The stream copied into scratch space (it is read twice: sniffed, then used)."""
    import sys

    from pybuild.builder.store import remove_tree

    scratch = store.scratch_dir("stdin")
    try:
        path = scratch / "context"
        with open(path, "wb") as f:
            shutil.copyfileobj(stream if stream is not None else sys.stdin.buffer, f, 1 << 20)
        yield str(path)
    finally:
        remove_tree(scratch)


def _from_file(stack: contextlib.ExitStack, store: Store, opts: BuildOptions, path: str,
               what: str) -> BuildOptions:
    """An archive becomes the context (unpacked); anything else is the Containerfile of an
    empty context (``docker build - < Dockerfile``)."""
    from pybuild.builder.copy_step import _is_archive
    from pybuild.builder.store import remove_tree

    scratch = store.scratch_dir("context")
    stack.callback(remove_tree, scratch)
    if _is_archive(path):
        from pybuild.oci.layer import apply_layer

        with open(path, "rb") as f:
            apply_layer(f, scratch, whiteouts="apply")
        return dataclasses.replace(opts, context=str(scratch))
    if opts.containerfile and not opts.containerfile.startswith(("http://", "https://")):
        raise ContextError(f"build context {what} is not a tar archive, so it has no {opts.containerfile}")
    return dataclasses.replace(opts, context=str(scratch), containerfile=opts.containerfile or "Containerfile",
                               containerfile_text=_text(path, what))


def _text(path: str, what: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    try:
        if b"\0" not in data:
            return data.decode()
    except UnicodeDecodeError:
        pass
    raise ContextError(f"{what}: neither a tar archive nor a text Containerfile")


def preprocess(path: Path, context: str, cpp_flags: list[str], name: str) -> tuple[str, list[str]]:
    """A ``.in`` Containerfile through cpp, as buildah runs it: (text, cpp's warnings)."""
    import shlex
    import subprocess

    cpp = shutil.which("cpp")
    if not cpp:
        raise UserError(f"{name}: a .in Containerfile is preprocessed with cpp (apt-get install cpp)")
    args = [cpp, "-E", "-iquote", context, "-traditional", "-undef", "-"]
    args += shlex.split(os.environ.get("BUILDAH_CPPFLAGS", ""))
    args += cpp_flags
    with open(path, "rb") as f:
        proc = subprocess.run(args, stdin=f, capture_output=True, timeout=120, cwd=path.parent)
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        first = next((line for line in err if "error" in line), err[0] if err else "failed")
        raise ContainerfileError(f"cpp: {first.replace('<stdin>', name)}", file=name)
    return proc.stdout.decode(errors="replace"), [line.replace("<stdin>", name) for line in err]
