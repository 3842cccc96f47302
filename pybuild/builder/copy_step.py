"""COPY and ADD as build steps: where sources come from, their cache key, and the copy.

Sources come from the build context (minus ignored files), a named build
context, another stage (``--from=NAME|INDEX``), or an image (``--from=IMAGE``);
ADD also takes http(s) URLs and unpacks local archives. The file-level work is in
copier.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybuild.builder import copier
from pybuild.builder.containerfile import instructions as ins
from pybuild.errors import ContextError, IntegrityError, UnsupportedError, UserError
from pybuild.lazyre import lazy

if TYPE_CHECKING:
    from pybuild.builder.containerfile.ignore import IgnoreMatcher
    from pybuild.builder.git_source import GitSource
    from pybuild.builder.step_context import StageState, StepContext
    from pybuild.builder.store import Store

_URL = lazy(r"^https?://", re.I)


def is_http(src: str) -> bool:
    """An http(s) URL, of whatever it serves."""
    return bool(_URL.match(src))


def is_url(src: str) -> bool:
    """An ADD source downloaded over http(s) rather than read from a context (not a git one)."""
    return is_http(src) and not ins.is_git_source(src)


def _is_git(instr: ins.Copy, src: str) -> bool:
    return isinstance(instr, ins.Add) and (ins.is_git_source(src) or src.lower().startswith("ssh://"))


def _git_commit(b: StepContext, src: str) -> tuple[GitSource, str, str]:
    """(GitSource, commit, ref name) for an ADD git source, resolved once per build."""
    from pybuild.builder import git_source

    parsed = git_source.parse(src)
    with b.download_lock:
        if src not in b.git_commits:
            b.git_commits[src] = git_source.resolve(parsed, b.ssh_socket("default") if parsed.is_ssh else None)
    commit, refname = b.git_commits[src]
    return parsed, commit, refname


def _commit_mtimes(b: StepContext) -> bool:
    """BuildKit's git.mtime=commit, its default when the build has a SOURCE_DATE_EPOCH."""
    return b.opts.output.source_date_epoch is not None or "SOURCE_DATE_EPOCH" in b.opts.build_args


def _git_checkout(b: StepContext, src: str, instr: ins.Copy, stack: contextlib.ExitStack) -> str:
    """The checked-out tree of an ADD git source (BuildKit: its contents go into DEST)."""
    from pybuild.builder import git_source

    if getattr(instr, "checksum", None):
        raise UnsupportedError("ADD --checksum of a git source is not supported (the ref's commit is "
                               "checked: name it as URL#COMMIT)", where=instr.where)
    parsed, commit, refname = _git_commit(b, src)
    return stack.enter_context(git_source.checkout(
        b.store, parsed, commit, refname, keep_git_dir=bool(getattr(instr, "keep_git_dir", False)),
        commit_mtimes=_commit_mtimes(b),
        ssh_socket=b.ssh_socket("default") if parsed.is_ssh else None))


def source_key(b: StepContext, st: StageState, instr: ins.Copy) -> list[Any]:
    """The content key of exactly what this COPY/ADD reads."""
    parts: list[Any] = []
    for h in instr.heredocs:
        parts.append(["inline", h.name, hashlib.sha256(h.body.encode()).hexdigest()])
    gits = [s for s in instr.sources if _is_git(instr, s)]
    local = [s for s in instr.sources if not is_url(s) and s not in gits]
    urls = [s for s in instr.sources if is_url(s)]
    for g in gits:
        # a git source counts by the commit its ref names now (never by the remote's URL)
        parsed, commit, _ = _git_commit(b, g)
        keep = bool(getattr(instr, "keep_git_dir", False))
        from pybuild.builder.git_source import redacted

        # a kept .git names its origin; the checkout time, unlike the commit's, is new each time
        parts.append(["git", commit, parsed.subdir, keep, redacted(parsed.remote) if keep else None,
                      "commit" if _commit_mtimes(b) else "checkout", list(instr.excludes)])
    for u in urls:
        # a URL counts by what it serves now, not by its name (its content may have changed)
        parts.append(["url", u, copier.file_sha256(fetched(b, u, instr).host)])
    if local:
        if instr.from_:
            kind, ref = b.resolve_from(st.stage, instr.from_)
            if kind == "stage":
                parts.append(["stage", b.results[ref].key, local, list(instr.excludes)])
                return parts
            if kind == "image":
                parts.append(["image", b.resolve_image(ref, line=instr.line).id, local, list(instr.excludes)])
                return parts
            root = copier.SourceRoot(ref, "context", exclude=_exclude(instr))
        else:
            root = copier.SourceRoot(b.context, "context", ignore=_ignore(b, instr), exclude=_exclude(instr))
        selected = copier.select_sources(root, local, where=instr.where, instruction=instr.keyword)
        parts.append(["context", [s.rel for s in selected], copier.hash_sources(selected, root, b.hash_cache)])
    return parts


def _ignore(b: StepContext, instr: ins.Copy) -> IgnoreMatcher | None:
    return b.ignore


def _exclude(instr: ins.Copy) -> IgnoreMatcher | None:
    """``--exclude`` patterns as a matcher of paths relative to each source (BuildKit)."""
    if not instr.excludes:
        return None
    from pybuild.builder.containerfile.ignore import IgnoreMatcher

    return IgnoreMatcher(list(instr.excludes), source="--exclude")


@contextlib.contextmanager
def _source_root(b: StepContext, st: StageState, instr: ins.Copy) -> Iterator[copier.SourceRoot]:
    if not instr.from_:
        yield copier.SourceRoot(b.context, "context", ignore=_ignore(b, instr), exclude=_exclude(instr))
        return
    with from_root(b, st, instr.from_, instr.line) as (kind, root):
        yield copier.SourceRoot(root, kind, exclude=_exclude(instr))


@contextlib.contextmanager
def from_root(b: StepContext, st: StageState, from_: str, line: int | None) -> Iterator[tuple[str, str]]:
    """The root directory a ``--from`` / ``from=`` names, with its kind ("context", "stage",
    "image"): a named context as it is, a stage or an image mounted for the duration."""
    from pybuild.builder.container import WorkingContainer

    kind, ref = b.resolve_from(st.stage, from_)
    if kind == "context":
        yield kind, ref
        return
    if kind == "stage":
        wc = WorkingContainer.create(b.store, None, record=False)
        from pybuild.builder.records import digests

        wc.state.layers = digests(b.results[ref].layers)
        wc.save()
    else:
        wc = WorkingContainer.create(b.store, b.resolve_image(ref, line=line), record=False)
    try:
        with wc.mounted() as root:
            yield kind, str(root)
    finally:
        wc.remove()


def ensure_workdirs(st: StageState, root: str) -> bool:
    """Make the pending WORKDIRs in ``root``, as BuildKit does: ``mkdir -p`` whose new
    directories (parents included) belong to the USER in effect at the WORKDIR. Whether any
    was missing (and so made)."""
    from pybuild.builder.paths import makedirs_in_root, resolve_in_root

    made = False
    for path, user in st.pending_workdirs:
        if os.path.isdir(resolve_in_root(root, path)):
            continue
        uid, gid = resolve_owner(root, user, "WORKDIR", strict=False) or (0, 0)
        makedirs_in_root(root, path, uid=uid, gid=gid)
        made = True
    st.pending_workdirs.clear()
    return made


def resolve_owner(root: str, chown: str | None, where: str, *, strict: bool = True) -> tuple[int, int] | None:
    """``--chown`` as uid/gid, names looked up in the container's own passwd/group (as data).

    A number alone gives uid and gid alike (BuildKit's chown rule). ``strict=False`` is
    BuildKit's rule for the owner of WORKDIR's directories: a name not found is 0."""
    if not chown:
        return None
    from pybuild.builder.sandbox.users import read_group, read_passwd

    user, sep, group = chown.partition(":")
    uid: int
    gid: int
    if user.isdigit():
        uid = int(user)
        gid = uid
    else:
        entry = next((p for p in read_passwd(root) if p.name == user), None)
        if entry is None:
            if strict:
                raise UserError(f"--chown: unknown user {user!r} (not in the image's /etc/passwd)", where=where)
            uid, gid = 0, 0
        else:
            uid, gid = entry.uid, entry.gid
    if sep and group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((e for e in read_group(root) if e.name == group), None)
            if g is None and strict:
                raise UserError(f"--chown: unknown group {group!r} (not in the image's /etc/group)", where=where)
            gid = g.gid if g is not None else 0
    return uid, gid


def copy(b: StepContext, st: StageState, instr: ins.Copy) -> None:
    is_add = isinstance(instr, ins.Add)
    chmod = copier.parse_chmod(instr.chmod)
    workdir = st.config.config.working_dir or "/"
    gits = [s for s in instr.sources if _is_git(instr, s)]
    local = [s for s in instr.sources if not is_url(s) and s not in gits]
    urls = [s for s in instr.sources if is_url(s)]
    if urls and not is_add:
        raise UserError("COPY cannot fetch URLs; use ADD", where=instr.where)
    if getattr(instr, "keep_git_dir", False) and not gits:
        raise UserError("ADD --keep-git-dir is only for git sources", where=instr.where)
    with contextlib.ExitStack() as stack:
        downloads = [fetched(b, u, instr) for u in urls]
        trees = [copier.Selected(_git_checkout(b, g, instr, stack), ".", True) for g in gits]
        src_root = stack.enter_context(_source_root(b, st, instr)) if local else None
        selected = (copier.select_sources(src_root, local, where=instr.where, instruction=instr.keyword)
                    if src_root else [])
        root = str(stack.enter_context(st.container.mounted()))
        ensure_workdirs(st, root)
        opts = copier.CopyOptions(owner=resolve_owner(root, instr.chown, instr.where), chmod=chmod,
                                  keep_owner=bool(src_root and src_root.keeps_owner), parents=instr.parents,
                                  exclude=src_root.exclude if src_root else None)
        for h in instr.heredocs:
            copier.write_file_into_rootfs(root, instr.dest, workdir, h.name, h.body.encode(), opts)
        if len(instr.sources) + len(instr.heredocs) > 1 and not copier.names_directory(instr.dest):
            from pybuild.builder.paths import container_join, resolve_in_root

            if not os.path.isdir(resolve_in_root(root, container_join(workdir, instr.dest))):
                raise UserError(f"when using {instr.keyword} with more than one source file, the "
                                "destination must be a directory and end with a /", where=instr.where)
        unpack = unpacker() if is_add and getattr(instr, "unpack", None) is not False else None
        if selected:
            copier.copy_into_rootfs(root, selected, instr.dest, workdir, opts,
                                    ignore=src_root.ignore if src_root else None, where=instr.where,
                                    unpack=unpack)
        if trees:
            copier.copy_into_rootfs(root, trees, instr.dest, workdir,
                                    copier.CopyOptions(owner=opts.owner or (0, 0), chmod=chmod,
                                                       exclude=_exclude(instr)), where=instr.where)
        for sel in downloads:
            copier.copy_into_rootfs(root, [sel], instr.dest, workdir,
                                    copier.CopyOptions(owner=opts.owner or (0, 0), chmod=chmod or
                                                       (lambda old, d: 0o600)), where=instr.where)


def unpacker() -> Callable[[copier.Selected, str, Callable[[], str]], bool]:
    """ADD of a local tar archive (plain, gzip, bzip2, xz, zstd — by content) unpacks it."""

    def unpack(sel: copier.Selected, dest: str, make_dest_dir: Callable[[], str]) -> bool:
        if not _is_archive(sel.host):
            return False
        from pybuild.oci.layer import apply_layer

        dest_dir = make_dest_dir()
        with open(sel.host, "rb") as f:
            apply_layer(f, Path(dest_dir), whiteouts="apply")
        return True

    return unpack


def _is_archive(path: str) -> bool:
    from pybuild.oci.compress import decompressing_reader

    try:
        with open(path, "rb") as f:
            r = decompressing_reader(f)
            head = r.read(512)
    except Exception:  # noqa: BLE001 - not decompressible: not an archive
        return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def fetched(b: StepContext, url: str, instr: ins.Copy) -> copier.Selected:
    """``url`` downloaded once per build (for its cache key, then its copy)."""
    checksum = getattr(instr, "checksum", None)
    key = (url, checksum)
    with b.download_lock:  # parallel stages adding one URL fetch it once
        if key not in b.downloads:
            b.downloads[key] = b.resources.enter_context(download(b.store, url, checksum=checksum,
                                                                  where=instr.where))
        sel: copier.Selected = b.downloads[key]
    return sel


@contextlib.contextmanager
def download(store: Store, url: str, *, checksum: str | None = None,
             where: str | None = None) -> Iterator[copier.Selected]:
    """ADD URL: fetch into the store's scratch space (verifying ``checksum``) and present it
    as a source; the file is removed when the context ends."""
    import email.utils
    import urllib.parse

    import httpx

    from pybuild.builder.store import remove_tree

    scratch = store.scratch_dir("add")
    try:
        name = os.path.basename(urllib.parse.urlparse(url).path) or "index.html"
        path = scratch / name
        h = hashlib.sha256()
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as resp:
                if resp.status_code >= 400:
                    raise ContextError(f"ADD {url}: HTTP {resp.status_code}", where=where)
                with open(path, "wb") as f:
                    for chunk in resp.iter_bytes(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
                last_mod = resp.headers.get("last-modified")
        except httpx.HTTPError as e:
            raise ContextError(f"ADD {url}: {e}", where=where) from None
        if checksum and checksum != "sha256:" + h.hexdigest():
            raise IntegrityError(f"ADD {url}: checksum mismatch: got sha256:{h.hexdigest()}, "
                                 f"expected {checksum}", where=where)
        if last_mod:
            with contextlib.suppress(TypeError, ValueError):
                ts = email.utils.parsedate_to_datetime(last_mod).timestamp()
                os.utime(path, (ts, ts))
        yield copier.Selected(str(path), name, False)
    finally:
        remove_tree(scratch)
