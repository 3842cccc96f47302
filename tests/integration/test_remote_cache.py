"""Remote build cache through a registry (issue 15): two store roots are two CI runners, the
real docker-registry on 127.0.0.1 is what they share.

Every RUN appends a line to a file outside the build (a -v bind mount both runners name
alike) and writes random bytes into its layer: runner B re-runs no step that runner A ran
when the log gains no line and B's layers are A's, byte for byte (same diff_ids).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from cli_helpers import build_busybox, pyb, skopeo
from registry_fixtures import Registry, free_port

pytestmark = [pytest.mark.root, pytest.mark.integration]

CONTAINERFILE = """FROM {base}
COPY a.txt /a.txt
RUN echo one >> /log/ran && head -c 64 /dev/urandom | od -x > /rand1
COPY b.txt /b.txt
RUN echo two >> /log/ran && cat /a.txt /b.txt > /ab && head -c 64 /dev/urandom | od -x >> /ab
CMD ["cat", "/ab"]
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict[str, object]:
    """busybox pushed to the registry, and its layer blobs there (which no cache may hold)."""
    root, _ = build_busybox(tmp_path_factory.mktemp("remote-cache"))
    ref = f"{registry.host}/base/busybox:1"
    pyb(root, "push", "busybox", f"docker://{ref}")
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout)
    return {"ref": ref, "blobs": {layer["digest"] for layer in manifest["layers"]}}


def _context(tmp: Path, name: str, base_ref: str, b_text: str = "bee\n") -> Path:
    ctx = tmp / name
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base_ref))
    (ctx / "a.txt").write_text("ay\n")
    (ctx / "b.txt").write_text(b_text)
    return ctx


def _bud(root: Path, ctx: Path, log: Path, *flags: str, check: bool = True) -> object:
    return pyb(root, "bud", "--layers", "-v", f"{log}:/log", "-t", "app", *flags, str(ctx), check=check)


def _text(out: object) -> str:
    return str(out.stdout) + str(out.stderr)  # type: ignore[attr-defined]


def _diff_ids(root: Path) -> list[str]:
    out = pyb(root, "inspect", "--format", "{{json .OCIv1.RootFS.DiffIDs}}", "app").stdout
    return list(json.loads(out))


def _image_id(root: Path) -> str:
    out = pyb(root, "inspect", "--format", "{{.FromImageID}}", "app").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", out), out
    return out


def _ran(log: Path) -> list[str]:
    return (log / "ran").read_text().split() if (log / "ran").exists() else []


def _repo_blobs(registry: Registry, repo: str) -> set[str]:
    """The blobs the registry links into ``repo`` (what the repository holds)."""
    d = registry.workdir / "data" / "docker" / "registry" / "v2" / "repositories" / repo / "_layers" / "sha256"
    return {"sha256:" + p.name for p in d.iterdir()} if d.is_dir() else set()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    d = tmp_path / "log"
    d.mkdir()
    return d


def test_bundle_runner_b_reruns_nothing_and_then_only_what_changed(
        base: dict[str, object], registry: Registry, tmp_path: Path, log: Path) -> None:
    ref = f"{registry.host}/cache/app:main"
    a_root, b_root = tmp_path / "runner-a", tmp_path / "runner-b"
    _bud(a_root, _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to", f"type=registry,ref={ref},mode=max")
    assert _ran(log) == ["one", "two"]
    a_layers = _diff_ids(a_root)

    ctx_b = _context(tmp_path, "ctx-b", str(base["ref"]))  # another path, the same content
    out = _bud(b_root, ctx_b, log, "--cache-from", f"type=registry,ref={ref}",
               "--cache-to", f"type=registry,ref={ref},mode=max")
    # B's export re-sends nothing the registry has (HEAD first): only the manifest goes up
    sent = re.search(r"cache to \S+: 5 steps, 4 layers, (\d+) bytes pushed, (\d+) blobs already there", _text(out))
    assert sent and int(sent[1]) < 20000 and int(sent[2]) == 10, _text(out)  # 4 layers, 5 configs, 1 cache config
    assert _ran(log) == ["one", "two"], _text(out)
    assert _diff_ids(b_root) == a_layers  # the random bytes too: A's layers, not a re-run
    assert _image_id(b_root) == _image_id(a_root)  # and A's config: the very same image
    assert "(from " in _text(out)
    # B's image is whole: it can be pushed (every layer fetched and verified)
    pyb(b_root, "push", "app", f"oci:{tmp_path / 'b-out'}:app")

    # the cache repository holds the produced layers, never the base image's
    held = _repo_blobs(registry, "cache/app")
    assert held and not held & set(base["blobs"])  # type: ignore[arg-type]
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout)
    assert not {d["digest"] for d in raw["layers"]} & set(base["blobs"])  # type: ignore[arg-type]
    assert "dev.pybuild.cache.entries.v1" in raw["annotations"]
    assert str(tmp_path) not in json.dumps(raw)  # no host path in the cache manifest

    # one changed file: only the steps after it run
    (ctx_b / "b.txt").write_text("changed\n")
    out = _bud(b_root, ctx_b, log, "--cache-from", f"type=registry,ref={ref}", "--explain-cache")
    assert _ran(log) == ["one", "two", "two"]
    assert _diff_ids(b_root)[:-2] == a_layers[:-2] and _diff_ids(b_root)[-1] != a_layers[-1]
    err = _text(out)
    assert f"remote: {ref}: changed since the cached build: sources" in err  # COPY b.txt
    assert f"remote: {ref}: absent remotely (nothing cached after the previous step)" in err  # RUN two


def test_buildah_spelling_tags_each_step_by_its_key(
        base: dict[str, object], registry: Registry, tmp_path: Path, log: Path) -> None:
    repo = f"{registry.host}/cache/steps"
    a_root, b_root = tmp_path / "runner-a", tmp_path / "runner-b"
    _bud(a_root, _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to", repo)
    _bud(b_root, _context(tmp_path, "ctx-b", str(base["ref"])), log, "--cache-from", repo, "--cache-ttl", "1h")
    assert _ran(log) == ["one", "two"]
    assert _diff_ids(b_root) == _diff_ids(a_root)
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)["Tags"]
    assert len(tags) == 5 and all(len(t) == 64 for t in tags)  # one small image per step after FROM
    one = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:{tags[0]}").stdout)
    assert one["layers"] and not {d["digest"] for d in one["layers"]} & set(base["blobs"])  # type: ignore[arg-type]
    assert not _repo_blobs(registry, "cache/steps") & set(base["blobs"])  # type: ignore[arg-type]


def test_ttl_makes_old_entries_misses(base: dict[str, object], registry: Registry, tmp_path: Path, log: Path) -> None:
    repo = f"{registry.host}/cache/ttl"
    _bud(tmp_path / "a", _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to", repo)
    _bud(tmp_path / "b", _context(tmp_path, "ctx-b", str(base["ref"])), log, "--cache-from", repo,
         "--cache-ttl", "1ns")
    assert _ran(log) == ["one", "two", "one", "two"]


def test_local_layout_cache_and_skopeo_reads_it(base: dict[str, object], tmp_path: Path, log: Path) -> None:
    dest = tmp_path / "cache-dir"
    _bud(tmp_path / "a", _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to",
         f"type=local,dest={dest},tag=v1,compression=zstd")
    _bud(tmp_path / "b", _context(tmp_path, "ctx-b", str(base["ref"])), log, "--cache-from",
         f"type=local,src={dest},tag=v1")
    assert _ran(log) == ["one", "two"]
    assert _diff_ids(tmp_path / "b") == _diff_ids(tmp_path / "a")
    raw = json.loads(skopeo("inspect", "--raw", f"oci:{dest}:v1").stdout)
    assert raw["config"]["mediaType"] == "application/vnd.pybuild.cache.config.v1+json"
    layers = [d for d in raw["layers"] if "dev.pybuild.cache.diff-id" in d.get("annotations", {})]
    assert len(layers) == 4 and {d["mediaType"] for d in layers} == {"application/vnd.oci.image.layer.v1.tar+zstd"}


def test_first_hit_wins_and_an_unreachable_cache_only_warns(
        base: dict[str, object], registry: Registry, tmp_path: Path, log: Path) -> None:
    ref = f"{registry.host}/cache/multi:1"
    _bud(tmp_path / "a", _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to", f"type=registry,ref={ref}")
    dead = f"127.0.0.1:{free_port()}/nobody/cache"
    out = _bud(tmp_path / "b", _context(tmp_path, "ctx-b", str(base["ref"])), log,
               "--cache-from", f"type=registry,ref={dead}:x", "--cache-from", f"type=registry,ref={ref}",
               "--cache-to", f"type=registry,ref={dead}:x")
    assert _ran(log) == ["one", "two"]
    assert _text(out).count(f"(from {ref})") == 5
    warnings = [ln for ln in _text(out).splitlines() if ln.startswith("WARN")]
    assert len(warnings) == 2, _text(out)
    assert "not used" in warnings[0] and "export" in warnings[1]
    assert "Traceback" not in _text(out)
    # two sources that both hold every step: the first named answers
    second = f"{registry.host}/cache/multi:2"
    _bud(tmp_path / "c", _context(tmp_path, "ctx-c", str(base["ref"])), log, "--cache-from",
         f"type=registry,ref={ref}", "--cache-to", f"type=registry,ref={second}")
    out = _bud(tmp_path / "d", _context(tmp_path, "ctx-d", str(base["ref"])), log,
               "--cache-from", f"type=registry,ref={second}", "--cache-from", f"type=registry,ref={ref}")
    assert _text(out).count(f"(from {second})") == 5 and _ran(log) == ["one", "two"]


def test_a_chain_of_hits_fetches_no_layer_it_does_not_need(
        base: dict[str, object], registry: Registry, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {base['ref']} AS build\nRUN head -c 300000 /dev/urandom > /big\nRUN sha256sum /big > /sum\n"
        f"FROM {base['ref']}\nCOPY --from=build /sum /sum\n")
    ref = f"{registry.host}/cache/lazy:1"
    pyb(tmp_path / "a", "bud", "-t", "app", "--cache-to", f"type=registry,ref={ref},mode=max", str(ctx))
    out = pyb(tmp_path / "b", "bud", "-t", "app", "--cache-from", f"type=registry,ref={ref}", str(ctx))
    assert _text(out).count("fetched layer") == 1  # the final image's COPY layer, not /big
    assert _diff_ids(tmp_path / "b") == _diff_ids(tmp_path / "a")
    # mode=min (the default) exports only the final stage's steps
    pyb(tmp_path / "a", "bud", "-t", "app", "--cache-to", f"type=registry,ref={ref}-min", str(ctx))
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}-min").stdout)
    assert len(json.loads(raw["annotations"]["dev.pybuild.cache.entries.v1"])) == 1


def _put(registry: Registry, repo: str, tag: str, manifest: dict[str, object]) -> None:
    r = httpx.put(f"http://{registry.host}/v2/{repo}/manifests/{tag}", content=json.dumps(manifest).encode(),
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text


def _upload(registry: Registry, repo: str, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = httpx.post(f"http://{registry.host}/v2/{repo}/blobs/uploads/")
    loc = start.headers["location"]
    url = loc if loc.startswith("http") else f"http://{registry.host}{loc}"
    done = httpx.put(f"{url}{'&' if '?' in url else '?'}digest={digest}", content=data)
    assert done.status_code == 201, done.text
    return digest


def _escaping_layer() -> bytes:
    import gzip
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    return gzip.compress(buf.getvalue())


@pytest.mark.parametrize("attack", ["other-step", "wrong-blob", "escape"])
def test_hostile_entries_are_refused_and_rebuilt(base: dict[str, object], registry: Registry, tmp_path: Path,
                                                 log: Path, attack: str) -> None:
    good = f"{registry.host}/cache/hostile:good"
    _bud(tmp_path / "a", _context(tmp_path, "ctx-a", str(base["ref"])), log, "--cache-to",
         f"type=registry,ref={good},mode=max")
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{good}").stdout)
    entries = json.loads(manifest["annotations"]["dev.pybuild.cache.entries.v1"])
    n = len(base["blobs"])  # type: ignore[arg-type]
    by_depth: dict[int, list[str]] = {}
    for k, e in entries.items():
        by_depth.setdefault(len(e["layers"]) - n, []).append(k)
    first_run = by_depth[2][0]  # COPY a.txt (1), RUN one (2), COPY b.txt (3), RUN two and CMD (4)
    new_layer = entries[first_run]["layers"][-1]
    if attack == "other-step":  # the first RUN's key answers with the second RUN's result
        second_run = next(k for k in by_depth[4] if entries[k]["parent"] in by_depth[3])
        entries[first_run] = {**entries[second_run], "parent": entries[first_run]["parent"]}
    else:
        layer = next(d for d in manifest["layers"] if d.get("annotations", {}).get("dev.pybuild.cache.diff-id")
                     == new_layer)
        if attack == "wrong-blob":  # a blob that is some other layer of the build
            other = next(d for d in manifest["layers"] if d is not layer and "diff-id" in str(d.get("annotations")))
            layer["digest"], layer["size"] = other["digest"], other["size"]
        else:
            data = _escaping_layer()
            layer["digest"], layer["size"] = _upload(registry, "cache/hostile", data), len(data)
    manifest["annotations"]["dev.pybuild.cache.entries.v1"] = json.dumps(entries)
    _put(registry, "cache/hostile", "evil", manifest)

    out = _bud(tmp_path / "b", _context(tmp_path, "ctx-b", str(base["ref"])), log,
               "--cache-from", f"type=registry,ref={registry.host}/cache/hostile:evil")
    said = [ln for ln in _text(out).splitlines() if ln.startswith("WARN")]
    # a wrong history is seen at the hit; a wrong or escaping blob when the layer is fetched
    assert len(said) == 1 and ("refused" if attack == "other-step" else "rejected") in said[0], _text(out)
    # the bad step ran again, and so did the one after it (its entry is built on A's result)
    assert _ran(log) == ["one", "two", "one", "two"]
    assert not list(tmp_path.rglob("escaped")) and not Path("/escaped").exists()  # nowhere, not even in tmp/
    mine, theirs = _diff_ids(tmp_path / "b"), _diff_ids(tmp_path / "a")
    assert mine[:n + 1] == theirs[:n + 1] and mine[n + 1] != theirs[n + 1]  # COPY a.txt kept, RUN one new
    pyb(tmp_path / "b", "push", "app", f"oci:{tmp_path / 'out'}:app")  # the image is whole


def test_bad_cache_flags_are_one_line(tmp_path: Path) -> None:
    for flag in ("type=inline", "type=registry", "type=local,src=/x", "reg.example/repo:tag",
                 "type=registry,ref=r/x:y,mode=all", "type=registry,ref=r/x:y,oci-mediatypes=true"):
        out = pyb(tmp_path / "s", "bud", "--cache-to", flag, str(tmp_path), check=False)
        assert out.returncode != 0 and out.stderr.startswith("Error: --cache-to"), (flag, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1
    out = pyb(tmp_path / "s", "bud", "--cache-ttl", "soon", str(tmp_path), check=False)
    assert out.returncode != 0 and "--cache-ttl" in out.stderr
    (tmp_path / "Containerfile").write_text("FROM scratch\nENV A=1\n")
    out = pyb(tmp_path / "s", "bud", "--layers=false", "--cache-from", "type=local,src=/nowhere", str(tmp_path),
              check=False)
    assert out.returncode != 0 and out.stderr == "Error: --cache-from and --cache-to need --layers " \
        "(without it no step is cached)\n"
    # several platforms under one tag would replace each other's steps: refused before any build
    out = pyb(tmp_path / "s", "bud", "--platform", "linux/amd64,linux/arm64", "--cache-to",
              f"type=local,dest={tmp_path / 'c'}", str(tmp_path), check=False)
    assert out.returncode != 0 and "one platform's steps under one tag" in out.stderr
    assert not (tmp_path / "c").exists()


def test_secrets_are_in_no_key_and_no_exported_blob(base: dict[str, object], tmp_path: Path) -> None:
    import gzip

    value = "s3cr3t-" + "9f2c" * 8
    secret = tmp_path / "token"
    secret.write_text(value)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {base['ref']}\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /len\n")
    dest = tmp_path / "cache-dir"
    pyb(tmp_path / "a", "bud", "-t", "app", "--secret", f"id=tok,src={secret}", "--cache-to",
        f"type=local,dest={dest},mode=max", str(ctx))
    for blob in (dest / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert value.encode() not in data and str(secret).encode() not in data, blob.name
    # another secret value gives the same key: runner B hits without the file's content mattering
    secret.write_text("another value")
    out = pyb(tmp_path / "b", "bud", "-t", "app", "--secret", f"id=tok,src={secret}", "--cache-from",
              f"type=local,src={dest}", str(ctx))
    assert "(from " in _text(out)


def test_the_library_spells_it_as_the_cli(base: dict[str, object], registry: Registry, tmp_path: Path) -> None:
    import pybuild

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {base['ref']}\nRUN head -c 32 /dev/urandom | od -x > /r\n")
    ref = f"type=registry,ref={registry.host}/cache/lib:1"
    a = pybuild.build(ctx, tags=["app"], store=tmp_path / "a", cache_to=[ref])
    hits: list[str] = []
    b = pybuild.build(ctx, tags=["app"], store=tmp_path / "b", cache_from=[ref],
                      on_event=lambda e: hits.append(e.message) if e.kind == "cache-hit" else None)
    assert b.layers == a.layers and len(hits) == 1
    with pytest.raises(pybuild.PybuildError, match="need --layers"):
        pybuild.build(ctx, store=tmp_path / "c", cache_from=[ref], layers=False)


def test_concurrent_exporters_leave_the_ref_whole(base: dict[str, object], registry: Registry, tmp_path: Path,
                                                  log: Path) -> None:
    import subprocess

    from cli_helpers import PYBUILD

    ref = f"{registry.host}/cache/race:1"
    procs = []
    for name in ("a", "b"):
        ctx = _context(tmp_path, f"ctx-{name}", str(base["ref"]), b_text=f"{name}\n")
        procs.append(subprocess.Popen([*PYBUILD, "--root", str(tmp_path / name), "bud", "-v", f"{log}:/log",
                                       "--cache-to", f"type=registry,ref={ref},mode=max", str(ctx)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=300) == 0
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout)
    assert len(json.loads(raw["annotations"]["dev.pybuild.cache.entries.v1"])) == 5  # one writer's, whole
    before = len(_ran(log))
    out = _bud(tmp_path / "c", tmp_path / "ctx-a", log, "--cache-from", f"type=registry,ref={ref}")
    hits = _text(out).count("(from ")
    assert hits in (2, 5)  # 5 when runner a wrote last; b's last three steps differ (b.txt)
    assert len(_ran(log)) == before + (1 if hits == 2 else 0)


def test_an_unauthorised_cache_only_warns_and_creds_open_it(base: dict[str, object], basic_registry: Registry,
                                                            tmp_path: Path, log: Path) -> None:
    from registry_fixtures import PASSWORD, USER

    ref = f"type=registry,ref={basic_registry.host}/cache/locked:1"
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "no-auth.json")}
    ctx = _context(tmp_path, "ctx-a", str(base["ref"]))
    out = pyb(tmp_path / "a", "bud", "-v", f"{log}:/log", "--cache-from", ref, "--cache-to", ref, str(ctx), env=env)
    warnings = [ln for ln in _text(out).splitlines() if ln.startswith("WARN")]
    assert len(warnings) == 2 and all(str(basic_registry.host) in w for w in warnings), warnings
    # the registry flags are the cache's too: with them runner A exports and runner B hits
    pyb(tmp_path / "a2", "bud", "-v", f"{log}:/log", "--creds", f"{USER}:{PASSWORD}", "--cache-to", ref,
        str(ctx), env=env)
    out = pyb(tmp_path / "b", "bud", "-v", f"{log}:/log", "--creds", f"{USER}:{PASSWORD}", "--cache-from", ref,
              str(_context(tmp_path, "ctx-b", str(base["ref"]))), env=env)
    assert _text(out).count("(from ") == 5 and _ran(log) == ["one", "two", "one", "two"]
