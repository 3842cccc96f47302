#!/usr/bin/env python3
"""Write docs/buildah-compat.md: every flag of `buildah VERB --help` beside pybuild's.

Usage: python scripts/buildah-compat.py [docs/buildah-compat.md]   (needs buildah installed)

Each row's status is "same" when pybuild has the flag and NOTES says nothing, "missing" when
it lacks it, else what NOTES says (it must begin with same, differs, refused or missing).
tests/unit/test_cli_flags.py checks the written file against the command tree and buildah.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pybuild.cli import command_tree  # noqa: E402

VERBS = [("(global)", "", ()), ("bud", "bud", ("bud",)), ("from", "from", ("from",)), ("run", "run", ("run",)),
         ("copy", "copy", ("copy",)), ("add", "add", ("add",)), ("config", "config", ("config",)),
         ("commit", "commit", ("commit",)), ("images", "images", ("images",)), ("rmi", "rmi", ("rmi",)),
         ("tag", "tag", ("tag",)), ("push", "push", ("push",)), ("pull", "pull", ("pull",)),
         ("inspect", "inspect", ("inspect",)), ("login", "login", ("login",)), ("logout", "logout", ("logout",)),
         ("mount", "mount", ("mount",)), ("umount", "umount", ("umount",)), ("containers", "containers", ("containers",)),
         ("rm", "rm", ("rm",)), ("rename", "rename", ("rename",)), ("info", "info", ("info",)),
         ("version", "version", ("version",)),
         ("manifest create", "manifest create", ("manifest", "create")), ("manifest add", "manifest add", ("manifest", "add")),
         ("manifest inspect", "manifest inspect", ("manifest", "inspect")), ("manifest push", "manifest push", ("manifest", "push")),
         ("manifest remove", "manifest remove", ("manifest", "remove")), ("manifest rm", "manifest rm", ("manifest", "rm")), ("manifest exists", "manifest exists", ("manifest", "exists")),
         ("manifest annotate", "manifest annotate", ("manifest", "annotate"))]


# what differs, flag by flag ("VERB --flag"; global flags under "(global)")
# status notes: "verb --flag": "same: ..." | "differs: ..." | "refused: ..." | "missing: ..."
TLS = "differs: default true, except for registries on loopback addresses (buildah: registries.conf decides)"
PULL = ("differs: default `missing` (BuildKit's: pull only what is absent; buildah's default `true` pulls when newer); "
        "`--pull` alone or `true` or `always`: always pull; `false`, `ifmissing`, `ifnewer`: missing; `never`")
ISO = ("differs: default `chroot` (runc's confinement without a runtime: the same namespaces, /proc masks, seccomp "
       "profile, capabilities and device allow-list) or `oci` (runc); `$BUILDAH_ISOLATION`, then `$PYBUILD_ISOLATION`; "
       "`rootless`: runc in pybuild's user namespace for an ordinary user, refused as root")
NOTES = {
 "(global) --log-level": "differs: buildah's levels; debug and trace add tracebacks to errors, error/fatal/panic hide warnings; pybuild has no other log lines",
 "(global) --root": "differs: pybuild's own store, default `/var/lib/pybuild` (`$PYBUILD_ROOT`), not containers-storage",
 "(global) --runroot": "refused: \"pybuild keeps its run state under --root\"",
 "(global) --storage-driver": "differs: `overlay` or `vfs` only",
 "(global) --version": "same (`-v` too; the text differs)",
 "bud --arch": "same: as `--platform linux/ARCH`",
 "bud --os": "differs: linux only (other OSes are refused with one line)",
 "bud --variant": "same: as `--platform OS/ARCH/VARIANT`",
 "bud --platform": ("differs: any platform whose RUN steps this kernel runs (natively or by a binfmt_misc "
                    "handler with the F flag; `pybuild info` lists them), several built one after another; "
                    "`-t` with several makes a manifest list (BuildKit's)"),
 "bud --file": "same: a path, `-` (stdin) or an http(s) URL; a name ending in `.in` goes through cpp",
 "bud --force-rm": "differs: always on (a failed build's containers are removed too, as BuildKit); `--force-rm=false` refused",
 "bud --rm": "same (`--rm=false` refused: pybuild always removes a build's intermediate containers)",
 "bud --format": "same (`oci` or `docker`, `$BUILDAH_FORMAT`)",
 "bud --isolation": ISO,
 "bud --jobs": "differs: default 2 stages at once (buildah: 1)",
 "bud --layers": "differs: default true, as BuildKit (buildah 1.28: false); `$BUILDAH_LAYERS` is honoured",
 "bud --network": "same: private (default where netavark can set it up, else host, said once), host, none, ns:PATH; rootless private is not done",
 "bud --output": "same: `type=local,dest=DIR`, `type=tar,dest=FILE`",
 "bud --pull": PULL,
 "bud --runtime": "same (a runtime with runc's command line; implies `--isolation oci`; `$BUILDAH_RUNTIME` is not read)",
 "bud --security-opt": "same: `seccomp=unconfined|FILE`, `no-new-privileges`, `apparmor=unconfined`, `label=disable`; other values refused",
 "from --security-opt": "same: as `bud`'s, for every later `run`",
 "bud --skip-unused-stages": "same (`=false` refused: only the stages the target needs are built, as BuildKit)",
 "bud --tls-verify": TLS,
 "bud --userns": "differs: only `host` (steps share pybuild's user namespace); any other value refused",
 "bud --volume": "differs: `SRC:DST[:ro|rw]` (and `z`/`Z` on hosts without SELinux); `U`, `O` and the rest refused",
 "bud --secret": "same (`id=ID,src=PATH`, `id=ID,env=VAR`)",
 "bud --build-context": "same (a directory, a git URL, an http(s) URL of an archive, `docker-image://`, `container-image://`, `oci-layout://`)",
 "bud --squash": "same (one layer in all)",
 "bud --cap-add": "same", "bud --cap-drop": "same",
 "bud --timestamp": "same",
 "from --pull": PULL,
 "from --tls-verify": TLS,
 "run --isolation": ISO,
 "run --network": "same: private (default where it can be set up), host, none, ns:PATH (`--net` too)",
 "run --mount": "differs: `type=bind|tmpfs|cache` with their basic keys; other keys refused",
 "run --volume": "differs: `SRC:DST[:ro|rw]` (and `z`/`Z` on hosts without SELinux); other options refused",
 "run --runtime": "same (a runtime with runc's command line; implies `--isolation oci`)",
 "run --terminal": "refused: \"pybuild run has no pseudo-terminal yet\"",
 "copy --quiet": "differs: pybuild prints no digest of what was copied; `-q` hides progress",
 "add --quiet": "differs: pybuild prints no digest of what was added; `-q` hides progress",
 "config --comment": "differs: sets the next history entry's comment (buildah: the image's Comment; its `--history-comment` is this)",
 "config --healthcheck": "same (docker format only, as buildah warns)",
 "config --onbuild": "same (docker format only)",
 "config --shell": "same (docker format only)",
 "commit --tls-verify": TLS,
 "commit --format": "same (`oci`, `docker`, `v2s2`; `$BUILDAH_FORMAT`)",
 "images --all": "same (pybuild keeps no intermediate images: every image is listed either way)",
 "images --json": "differs: the keys id, names, digest, createdat, size only",
 "rmi --force": "differs: removes the image even when it has several names or containers use it, but not the containers",
 "push --format": "differs: `oci`, `v2s2` or `docker`; no `v2s1`",
 "push --tls-verify": TLS,
 "pull --all-tags": "refused: \"pulling every tag of a repository is not supported\"",
 "pull --platform": "differs: one platform (buildah takes several)",
 "pull --tls-verify": TLS,
 "inspect --format": "differs: a subset of Go templates ({{.A.B}}, {{json .A}}); see issue 10 item 6",
 "inspect --type": "same (without it: a container, else an image)",
 "login --tls-verify": TLS,
 "login --get-login": "same",
 "containers --all": "same (pybuild's own: the containers builds make for themselves)",
 "version --json": "differs: the keys version, pythonVersion, osArch",
 "manifest create --tls-verify": TLS,
 "manifest add --tls-verify": TLS,
 "manifest push --tls-verify": TLS,
 "manifest push --all": "differs: default true (buildah 1.28: false; later buildah and podman: true); `--all=false` pushes the list alone",
 "manifest push --format": "same (`oci`, `v2s2`, `docker`)",
 # missing flags worth a word
 "bud --from": "same",
 "bud --ssh": ("same: `default` ($SSH_AUTH_SOCK), `ID=SOCKET`, `ID=KEY[,KEY]` (held by an ssh-agent pybuild starts "
               "for the build); each `RUN --mount=type=ssh` gets a relay socket, 0600 root unless uid/gid/mode say; "
               "ADD of an ssh git URL uses `default`"),
 "bud --cpp-flag": "same (after `$BUILDAH_CPPFLAGS`; cpp runs as buildah runs it: `-E -iquote CONTEXT -traditional -undef`)",
 "bud --cache-from": "differs: also BuildKit's `type=registry,ref=REPO:TAG` and `type=local,src=DIR`; "
                    "repeatable, first hit wins; layers fetched only when needed (docs/remote-cache.md)",
 "bud --cache-to": "differs: also BuildKit's `type=registry,ref=REPO:TAG[,mode=min|max]` and "
                  "`type=local,dest=DIR`; never pushes the base image's layers (docs/remote-cache.md)",
 "bud --disable-compression": ("same (default true: pybuild's store keeps layers uncompressed; `=false` refused: "
                               "push compresses them, `push --compression-format`)"),
 "bud --compress": "missing (a no-op in buildah)", "bud --disable-content-trust": "missing (a no-op in buildah)",
 "bud --identity-label": ("differs: default false, pybuild adds no io.buildah.version label (it is not buildah); "
                          "`--identity-label` (true) refused"),
 "bud --logfile": ("same (created 0600 or truncated: step headers, RUN output and warnings; the image ID and "
                   "an error line stay on stdout/stderr)"),
 "pull --policy": "differs: default `always`, as `docker pull` (buildah: `missing`)",
 "bud --env": "same (`KEY=VALUE`; `KEY` alone: its value here, nothing when unset)",
 "manifest annotate --features": "differs: refused with one line (OCI indexes have no platform features)",
 "from --platform": "same: picks from an index when pulling; a local image of another platform is pulled again",
 "from --arch": "differs: as `--platform` (picks from an index when pulling)",
 "from --os": "differs: as `--platform` (picks from an index when pulling)",
 "from --variant": "differs: as `--platform` (picks from an index when pulling)",
 "bud --retry": "same (default 3)",
 "bud --retry-delay": "differs: the same wait between attempts when given; without it 0.5s, doubling (buildah: 2s)",
 "from --retry": "same (default 3)",
 "from --retry-delay": "differs: the same wait between attempts when given; without it 0.5s, doubling (buildah: 2s)",
 "pull --retry": "same (default 3)",
 "pull --retry-delay": "differs: the same wait between attempts when given; without it 0.5s, doubling (buildah: 2s)",
 "push --retry": "same (default 3)",
 "push --retry-delay": "differs: the same wait between attempts when given; without it 0.5s, doubling (buildah: 2s)",
 "bud --dns": "differs: IP addresses; `none` (no resolv.conf at all) refused",
 "bud --dns-search": "same", "bud --dns-option": "same",
 "from --isolation": "same (kept for the container's later `run`s; `rootless` refused)",
 "from --network": "same: private, host, none, ns:PATH, kept for later `run`s",
 "from --cap-add": "same (kept for later `run`s)", "from --cap-drop": "same (kept for later `run`s)",
 "from --volume": "differs: `SRC:DST[:ro|rw]`, kept for later `run`s",
 "from --add-host": "same (kept for later `run`s)",
}
# step resources (pybuild/builder/sandbox/resources.py): runc's cgroup for oci, pybuild's own
# (cgroup v1 or v2, probed) plus setrlimit for chroot; `from` keeps them for every later `run`
CGROUP = "same (oci: runc's cgroup; chroot: a cgroup pybuild makes, v1 or v2; the step sees it read-only at /sys/fs/cgroup)"
ULIMIT = ("differs: without it the limits pybuild runs with (buildah: containers.conf's default_ulimits, "
          "nproc=32768:32768 here); NAME=SOFT[:HARD], -1 or unlimited; raising a hard limit needs CAP_SYS_RESOURCE")
DEVICE = ("differs: HOST[:CONTAINER][:rwm], the container path below /dev/; oci: a device cgroup rule as buildah; "
          "chroot: the host's node bound in (no device cgroup: without w read-only, m is not enforced)")
for _verb in ("bud", "from"):
    for _flag in ("--memory", "--memory-swap", "--cpu-shares", "--cpu-period", "--cpu-quota", "--cpuset-cpus",
                  "--cpuset-mems"):
        NOTES[f"{_verb} {_flag}"] = CGROUP
    NOTES[f"{_verb} --ulimit"] = ULIMIT
    NOTES[f"{_verb} --device"] = DEVICE
    NOTES[f"{_verb} --shm-size"] = "same (default 65536k)"
    NOTES[f"{_verb} --cgroup-parent"] = ("differs: with `--isolation oci` only (runc's cgroupsPath, an absolute "
                                         "cgroupfs path); with chroot refused in one line")
    NOTES[f"{_verb} --cgroupns"] = "same (default host; private: the step's cgroup is its cgroup namespace's root)"
NOTES["run --cgroupns"] = "same (default: from's, else host)"


def buildah_flags(verb: str) -> list[tuple[str | None, str, str]]:
    """(short, long, description) of each flag `buildah VERB --help` lists."""
    out = subprocess.run(["buildah", *verb.split(), "--help"], capture_output=True, text=True,
                         check=True).stdout
    flags = []
    for line in out.split("Flags:", 1)[1].splitlines():
        m = re.match(r"^\s+(?:(-\w), )?(--[\w-]+)(.*)$", line)
        if not m or m.group(2) == "--help":
            continue
        short, long, rest = m.groups()
        parts = re.split(r"\s{2,}", rest.strip(), maxsplit=1)
        desc = parts[1] if len(parts) == 2 else (rest.strip() if rest.startswith("  ") else "")
        flags.append((short, long, desc))
    return flags


def status_of(verb: str, long: str, present: bool) -> str:
    note = NOTES.get(f"{verb} {long}")
    if not present:
        if note and not note.startswith("missing"):
            raise SystemExit(f"{verb} {long}: noted {note!r} but pybuild lacks it")
        return note or "missing"
    if note and note.startswith("missing"):
        raise SystemExit(f"{verb} {long}: noted missing but pybuild has it")
    return note or "same"


def esc(s: str) -> str:
    return s.replace("|", "\\|")


def render() -> tuple[list[tuple[str, list[str], dict[str, int], list[str]]], dict[str, int]]:
    cmds = dict(command_tree())
    rows_by_verb = []
    totals = {"same": 0, "differs": 0, "refused": 0, "missing": 0}
    for verb, help_of, path in VERBS:
        cmd = cmds[path]
        have = {o: p for p in cmd.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}
        listed = buildah_flags(help_of)
        rows = []
        counts = dict.fromkeys(totals, 0)
        for short, long, desc in listed:
            status = status_of(verb, long, long in have)
            kind = status.split(":")[0].split(" ")[0]
            counts[kind] += 1
            totals[kind] += 1
            flag = f"`{short}, {long}`" if short else f"`{long}`"
            if short and long in have and short not in have[long].opts:
                status += f" (no `{short}`)"
            rows.append(f"| {flag} | {esc(desc)} | {esc(status)} |")
        names = {f[1] for f in listed}
        extra = [f"`{'`, `'.join(p.opts)}`" + (f" ({p.help})" if p.help else "") for p in cmd.params
                 if isinstance(p, click.Option) and not any(o in names for o in p.opts) and p.opts[-1] != "--help"]
        rows_by_verb.append((verb, rows, counts, extra))
    return rows_by_verb, totals


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" /
                  "buildah-compat.md")
    rows_by_verb, totals = render()
    total = sum(totals.values())
    out = []
    out.append("# pybuild beside buildah 1.28: every flag, verb by verb\n")
    out.append("Compiled from `buildah --help` and `buildah VERB --help` (buildah 1.28.2, Debian 12) and "
               "pybuild's command tree (`pybuild VERB --help`). Where buildah 1.28 departs from BuildKit, "
               "BuildKit is pybuild's target; those rows say so. "
               "`tests/unit/test_cli_flags.py::test_compat_doc_matches_the_command_line` checks every row "
               "against pybuild's flags (a flag marked missing must be absent, any other present) and the "
               "counts below. Written by `python scripts/buildah-compat.py` (its NOTES say what differs); "
               "edit those, not this file.\n")
    out.append(f"**{total} buildah flags: {totals['same']} same, {totals['differs']} differing, "
               f"{totals['refused']} refused with a one-line error, {totals['missing']} missing.**\n")
    out.append("How every verb parses them, as buildah (Go's pflag) does: a boolean flag takes `--flag`, "
               "`--flag=true`, `--flag=false` (and `1`/`0`/`t`/`f`), never the next word; `--pull` alone "
               "means `--pull=true`. A flag pybuild has but cannot honour for a value is refused with "
               "one line (`Error: FLAG VALUE: why`, exit 125) before anything runs, never accepted and "
               "ignored.\n")
    out.append("Statuses: **same** — same spelling, default and meaning; **differs** — accepted, and how it "
               "differs is said; **refused** — accepted by the parser only to say, in one line, that "
               "pybuild cannot do it; **missing** — pybuild does not know the flag (click says "
               "`No such option`).\n")
    out.append("| verb | same | differs | refused | missing |\n| --- | --- | --- | --- | --- |")
    for v, _rows, c, _extra in rows_by_verb:
        out.append(f"| {v} | {c['same']} | {c['differs']} | {c['refused']} | {c['missing']} |")
    out.append("")
    for v, rows, _c, extra in rows_by_verb:
        title = "global flags (`buildah [flags] VERB`)" if v == "(global)" else f"`{v}`"
        out.append(f"## {title}\n")
        if rows:
            out.append("| flag | buildah 1.28 | pybuild |\n| --- | --- | --- |")
            out.extend(rows)
        else:
            out.append("No flags in either.")
        if extra:
            out.append("\npybuild only: " + "; ".join(esc(e) for e in extra) + ".")
        out.append("")
    out.append("""## bud's CONTEXT and the sources a Containerfile names

| form | buildah 1.28 / BuildKit | pybuild |
| --- | --- | --- |
| CONTEXT a git URL (`git://`, `https://….git`, `ssh://`, `user@host:path`, `#REF[:SUBDIR]`) | buildah clones it (BuildKit: the same fragment) | same: `git ls-remote` names the commit, a depth-1 fetch of it, `.git` dropped; ssh through the caller's `$SSH_AUTH_SOCK` |
| CONTEXT an http(s) URL of an archive or a Containerfile | same in both | same: an archive (tar, gz, bz2, xz, zstd) is unpacked by the safe tar applier (`..` clamps at the root); anything else is the Containerfile of an empty context |
| CONTEXT `-` | BuildKit (`docker build -`): a tar or a Dockerfile on stdin | same (with `-f -` too: one line, refused) |
| `ADD [--keep-git-dir] GITURL#REF[:SUBDIR] DEST` | BuildKit | same: the cache key is the commit the ref names (no fetch on a hit); submodules too; mtimes the checkout time, the commit's with a SOURCE_DATE_EPOCH (BuildKit's `git.mtime=commit`); `ADD --checksum` of a git source refused (name the commit as the ref); the `?ref=`/`?subdir=` query form and `--known-hosts`-style host key pinning are not done (refused / host keys unchecked, BuildKit's rule without known_hosts); only git, http(s) and ssh transports |
| `RUN --mount=type=ssh[,id,target,required,uid,gid,mode]` | BuildKit; buildah | same: `$SSH_AUTH_SOCK` is set to the first ssh mount's target unless already set; default targets `/run/buildkit/ssh_agent.N` |
| `Containerfile.in` (`-f NAME.in`) | buildah: through cpp | same (with `-f`; pybuild does not look for `Containerfile.in` by itself) |
""")
    out.append("""## buildah verbs pybuild lacks

`source` (source containers), `unshare` (pybuild runs as root only), `manifest annotate`; and
`help VERB` is `VERB --help`.

## prune (not in buildah 1.28)

buildah 1.28 has no `prune`; pybuild's follows later buildah's (1.33's man page): `-a, --all` also removes
every image no container uses; `-f, --force` first removes the working containers that use the images
being pruned. Both the same as there; pybuild also empties its step cache and RUN cache mounts.

## Verbs from podman and skopeo

`import PATH [NAME]` is podman's (`-c/--change`, `-m/--message`, `--os`, `--arch`, `--variant`, `-q`;
a URL is refused: download it first). `push IMAGE containers-storage:[STORE]NAME` and `pull
containers-storage:NAME` hand images to and from podman's store through skopeo, as buildah's own
transports spell it; `image inspect|copy|list-tags` are skopeo's verbs.

## Environment variables

`$BUILDAH_FORMAT`, `$BUILDAH_ISOLATION`, `$BUILDAH_LAYERS` and `$REGISTRY_AUTH_FILE` mean what they mean to
buildah; `$BUILDAH_RUNTIME` and `$BUILDAH_HISTORY` are not read. pybuild's own: `$PYBUILD_ROOT`,
`$PYBUILD_ISOLATION`, `$SOURCE_DATE_EPOCH` (`bud --source-date-epoch`).
""")
    target.write_text("\n".join(out).rstrip() + "\n")
    print(totals)


if __name__ == "__main__":
    main()
