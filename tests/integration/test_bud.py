"""`pybuild bud` as a user runs it: the examples build and run, the layer cache, reproducible
builds, failures that leave nothing behind, and a build killed mid-RUN."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bud_helpers import (
    EXAMPLES,
    Store,
    containers_left,
    context,
    make_store,
    mounts_under,
    need_tool,
    run_bundle,
)

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    # no need_tool here: only the tests that read an image back with umoci need it (bud_helpers)
    yield make_store(tmp_path_factory.mktemp("bud"))


def _cache_lines(out: str) -> int:
    return len(re.findall(r"^--> Using cache [0-9a-f]{64}$", out, re.M))


def _iid(tmp: Path, name: str = "iid") -> Path:
    return tmp / name


# ---------------------------------------------------------------- the examples


def test_every_example_builds_and_runs(store: Store, tmp_path: Path) -> None:
    need_tool("runc")
    built = []
    for d in sorted(EXAMPLES.iterdir()):
        if d.name == "busybox":
            continue  # the fixture built it; it is the base of the others
        store.bud(d, "-t", f"example-{d.name}", "--build-arg", "GREETING=Howdy")
        built.append(d.name)
    assert "hello" in built
    r = run_bundle(store, "example-hello", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Howdy" in r.stdout
    cfg = store.config("example-hello")
    assert cfg["config"]["User"] == "app"
    assert cfg["config"]["WorkingDir"] == "/home/app"
    assert cfg["config"]["Labels"]["org.opencontainers.image.title"] == "hello"


def test_busybox_base_runs(store: Store, tmp_path: Path) -> None:
    need_tool("runc")
    r = run_bundle(store, "busybox", tmp_path, ["/bin/sh", "-c", "echo ran; id -u"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ran", "0"]


# ---------------------------------------------------------------- the cache

CACHED = """FROM busybox
RUN echo one > /one
COPY a.txt /a.txt
RUN cat /a.txt > /copy-of-a
COPY b.txt /b.txt
ENV X=1
"""


def test_rebuild_unchanged_hits_cache_everywhere(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, CACHED, {"a.txt": "a\n", "b.txt": "b\n"})
    store.bud(ctx, "-t", "cached", "--iidfile", str(tmp_path / "id1"))
    r = store.bud(ctx, "-t", "cached", "--iidfile", str(tmp_path / "id2"))
    assert _cache_lines(r.stdout) == 5, r.stdout
    assert (tmp_path / "id1").read_text() == (tmp_path / "id2").read_text()


def test_changed_copy_source_rebuilds_from_that_copy(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, CACHED, {"a.txt": "a\n", "b.txt": "b\n"})
    store.bud(ctx, "-t", "cached2", "--iidfile", str(tmp_path / "id1"))
    (ctx / "a.txt").write_text("changed\n")
    r = store.bud(ctx, "-t", "cached2", "--iidfile", str(tmp_path / "id2"))
    steps = re.split(r"^STEP \d+/\d+: ", r.stdout, flags=re.M)[1:]
    assert len(steps) == 6
    hits = [bool(re.search(r"^--> Using cache", s, re.M)) for s in steps]
    # FROM, RUN cached; the COPY of a.txt and everything after rebuilt
    assert hits == [False, True, False, False, False, False], r.stdout
    assert (tmp_path / "id1").read_text() != (tmp_path / "id2").read_text()


def test_timestamp_builds_are_identical_across_stores(tmp_path: Path) -> None:
    """FROM scratch, COPY and RUN steps built in two stores give one image ID."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy2("/bin/busybox", ctx / "busybox")
    text = (EXAMPLES / "busybox" / "Containerfile").read_text()
    (ctx / "Containerfile").write_text(text + "COPY Containerfile /etc/built-from\nRUN echo built > /etc/built && mkdir -p /var/log/app\n")
    ids = []
    for n in (1, 2):
        s = Store(tmp_path / f"store{n}")
        iid = tmp_path / f"{n}.iid"
        s.bud(ctx, "-t", "ts", "--timestamp", "1700000000", "--iidfile", str(iid))
        ids.append(iid.read_text())
        assert s.config("ts")["created"].startswith("2023-11-14T22:13:20")
    assert ids[0] == ids[1]


def test_no_cache_rebuilds(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN date +%s%N > /stamp\n")
    store.bud(ctx, "-t", "nocache", "--iidfile", str(tmp_path / "id1"))
    r = store.bud(ctx, "-t", "nocache", "--no-cache", "--iidfile", str(tmp_path / "id2"))
    assert _cache_lines(r.stdout) == 0
    assert (tmp_path / "id1").read_text() != (tmp_path / "id2").read_text()


def test_layers_false_one_layer_per_stage(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox AS b\nRUN echo b > /b\n\nFROM busybox\nRUN echo 1 > /1\n"
                            "ENV A=1\nCOPY --from=b /b /b\nRUN echo 2 > /2\nLABEL x=y\n")
    r = store.bud(ctx, "-t", "nolayers", "--layers=false")
    assert _cache_lines(r.stdout) == 0
    base = store.config("busybox")
    cfg = store.config("nolayers")
    assert len(cfg["rootfs"]["diff_ids"]) == len(base["rootfs"]["diff_ids"]) + 1
    new_history = cfg["history"][len(base["history"]):]
    assert len(new_history) == 5
    assert [bool(h.get("empty_layer")) for h in new_history].count(False) == 1


# ---------------------------------------------------------------- failures leave nothing behind

FAILURES = {
    "failing-run": ("FROM busybox\nRUN echo ok\nRUN exit 3\n", 3),
    "missing-copy": ("FROM busybox\nCOPY nothere.txt /x\n", 2),
    "context-escape": ("FROM busybox\nRUN true\nCOPY ../x /x\n", 3),
    "unknown-stage": ("FROM busybox\nRUN true\nCOPY --from=nosuchstage /x /x\n", 3),
    "unknown-stage-index": ("FROM busybox\nCOPY --from=4 /x /x\n", 2),
    "unknown-base": ("FROM busybox AS a\nFROM nosuchbase\nRUN true\n", 2),
    "unknown-instruction": ("FROM busybox\nRUN true\nFROBNICATE now\n", 3),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failure_is_clean(store: Store, tmp_path: Path, case: str) -> None:
    text, line = FAILURES[case]
    ctx = context(tmp_path, text)
    (tmp_path / "x").write_text("outside\n")
    before = store.image_json()
    r = store.bud(ctx, "-t", f"fail-{case}", check=False)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error")]
    assert len(errors) == 1, r.stderr
    assert f"Containerfile:{line}" in errors[0], errors[0]
    assert "Traceback" not in r.stderr
    assert store.image_json() == before
    assert mounts_under(store.root) == []
    assert containers_left(store) == []


def test_unknown_instruction_fails_before_running_anything(store: Store, tmp_path: Path) -> None:
    ctx = context(tmp_path, "FROM busybox\nRUN touch /ran-before-check && sleep 0\nFROBNICATE\n")
    r = store.bud(ctx, check=False)
    assert r.returncode != 0
    assert "STEP 2" not in r.stdout


# ---------------------------------------------------------------- a killed build


KILLED = {
    "plain": "FROM busybox\nRUN echo started > /started && sleep 30\n",
    "with-mounts": "FROM busybox AS other\nRUN echo other > /o\nFROM busybox\n"
                   "RUN --mount=type=bind,target=/ctx,rw --mount=type=secret,id=s --mount=type=cache,target=/c "
                   "--mount=type=bind,from=other,target=/other echo started > /started && sleep 30\n",
}


@pytest.mark.parametrize("case", sorted(KILLED))
def test_sigkill_mid_run_then_next_build_works(store: Store, tmp_path: Path, case: str) -> None:
    ctx = context(tmp_path, KILLED[case])
    secret = tmp_path / "secret"
    secret.write_text("killed-build-secret-93af")
    before = store.image_json()
    proc = subprocess.Popen(["pybuild", "--root", str(store.root), "bud", "-t", "killed",
                             "--secret", f"id=s,src={secret}", str(ctx)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = ""
    for line in proc.stdout:
        seen += line
        if re.match(r"(\[\d/\d\] )?STEP 2/2: RUN .*sleep 30", line):
            break
    # wait until the RUN step is really running (the sleep is a descendant)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _has_sleep_descendant(proc.pid):
        time.sleep(0.2)
    step_procs = _descendants(proc.pid)
    running = _has_sleep_descendant(proc.pid)
    if not running:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert running, f"the RUN step was not running when the build was to be killed; output:\n{seen}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for pid in step_procs:  # the step's own processes are ours to end, by id
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert store.image_json() == before
    # the next build works and cleans the dead build's leftovers
    (tmp_path / "next").mkdir()
    store.bud(context(tmp_path / "next", "FROM busybox\nRUN echo fine > /fine\n"), "-t", "after-kill")
    assert containers_left(store) == []
    assert mounts_under(store.root) == []
    assert not any(p.is_file() and b"killed-build-secret-93af" in p.read_bytes()
                   for p in (store.root / "tmp").rglob("*")), "a dead build's secret is left in the store"


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def _has_sleep_descendant(pid: int) -> bool:
    for p in _descendants(pid):
        try:
            if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].endswith(b"sleep"):
                return True
        except OSError:
            pass
    return False


def test_images_json_lists_built_images(store: Store) -> None:
    names = [n for i in json.loads(store.image_json()) for n in i.get("names", [])]
    assert any(n.endswith("/busybox:latest") for n in names)
