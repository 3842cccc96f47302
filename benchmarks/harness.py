"""A small harness: pybuild vs a peer, run alternately, medians, CPU and peak RSS.

A :class:`Case` names two commands (pybuild's and the peer's), and a third for the build
cases: BuildKit's (``docker build`` against a private dockerd, benchmarks/dockerd.py, when
docker.io is installed). The harness runs ``setup`` once, then one untimed warm-up of each
side, then ``runs`` counted rounds A B C A B C ... (alternating, so drift in the machine's
state hits every side alike),
calling ``before_each`` before every single run (drop caches, reset a registry...).

Each run is a child process reaped with ``os.wait4``, which gives that run's own CPU time
(user + system, including its waited-for children such as the stages of a shell pipeline)
and its peak RSS (the largest single process of the tree, in KiB).
Results are merged into benchmarks/results/results.json (other cases' entries are kept) and
rendered as benchmarks/results/results.md and a small bar chart results.png.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
WORK = BENCH_DIR / "work"

Command = Sequence[str] | str  # an argv, or a shell pipeline run with bash -o pipefail -c
# A case may also give a callable returning the command, called just before each run
# (after before_each): for commands that differ per run, e.g. a new repository name.
CommandSpec = Command | Callable[[], Command]
RSS_LIMIT_MIB = 150  # the target for any pybuild process, in every case


@dataclass
class Context:
    """What a case module gets: where to put generated data, and how thorough to be."""

    work: Path
    quick: bool
    smoke: bool = False  # --smoke: small inputs, one run, no warm-up (cases prime caches in setup)
    buildkit: bool = True  # cases may add a BuildKit side (False: --no-buildkit, or docker.io absent)
    python: str = sys.executable
    project: Path = PROJECT


@dataclass
class Case:
    """One comparison. ``pybuild`` and ``peer`` are argv lists or shell strings."""

    name: str
    pybuild: CommandSpec
    peer: CommandSpec
    peer_name: str = "peer"
    description: str = ""
    target: float | None = None  # the ratio pybuild/peer the issue asks for (at most)
    notes: Callable[[], str] | None = None  # shown beside the figures (e.g. pybuild's isolation)
    setup: Callable[[], None] | None = None  # once, before the warm-up
    before_each: Callable[[], None] | None = None  # before every run of either side
    teardown: Callable[[], None] | None = None  # once, at the end
    cwd: Path | None = None
    env: dict[str, str] | None = None  # added to the environment
    buildkit: CommandSpec | None = None  # a third side: the same build through BuildKit
    buildkit_target: float | None = None  # the ratio pybuild/BuildKit aimed at (issue 19)
    max_runs: int | None = None  # at most this many counted runs (minutes-long real-app builds)


@dataclass
class Sample:
    wall: float
    cpu: float
    user: float
    sys: float
    maxrss_kib: int


@dataclass
class Result:
    name: str
    description: str
    peer_name: str
    pybuild_cmd: str
    peer_cmd: str
    runs: int
    target: float | None = None
    notes: str = ""
    pybuild: list[Sample] = field(default_factory=list)
    peer: list[Sample] = field(default_factory=list)
    buildkit_cmd: str = ""
    buildkit_target: float | None = None
    buildkit: list[Sample] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        def med(samples: list[Sample], attr: str) -> float:
            return statistics.median(getattr(s, attr) for s in samples)

        pw, qw = med(self.pybuild, "wall"), med(self.peer, "wall")
        ratio = round(pw / qw, 3) if qw else None
        # per-pair ratios: run i of pybuild against run i of the peer (they ran back to back)
        pairs = [round(a.wall / b.wall, 3) for a, b in zip(self.pybuild, self.peer, strict=True) if b.wall]
        rss = round(max(s.maxrss_kib for s in self.pybuild) / 1024, 1)
        return {
            "name": self.name, "description": self.description, "peer_name": self.peer_name,
            "pybuild_cmd": self.pybuild_cmd, "peer_cmd": self.peer_cmd, "runs": self.runs,
            "notes": self.notes, "target": self.target,
            "met": None if self.target is None or ratio is None else ratio <= self.target,
            "pybuild_wall_s": round(pw, 4), "peer_wall_s": round(qw, 4),
            "ratio": ratio, "pair_ratios": pairs,
            "pybuild_cpu_s": round(med(self.pybuild, "cpu"), 3), "peer_cpu_s": round(med(self.peer, "cpu"), 3),
            "pybuild_maxrss_mib": rss, "rss_ok": rss <= RSS_LIMIT_MIB,
            "peer_maxrss_mib": round(max(s.maxrss_kib for s in self.peer) / 1024, 1),
            "pybuild_samples": [asdict(s) for s in self.pybuild],
            "peer_samples": [asdict(s) for s in self.peer],
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self._buildkit_summary(pw),
        }

    def _buildkit_summary(self, pw: float) -> dict[str, object]:
        """The BuildKit side's figures (none when it did not run). Its CPU and RSS are the
        docker client's only: the build itself runs in the daemon, outside the process tree."""
        if not self.buildkit:
            return {}
        bw = statistics.median(s.wall for s in self.buildkit)
        ratio = round(pw / bw, 3) if bw else None
        return {
            "buildkit_cmd": self.buildkit_cmd, "buildkit_wall_s": round(bw, 4), "buildkit_ratio": ratio,
            "buildkit_target": self.buildkit_target,
            "buildkit_met": None if self.buildkit_target is None or ratio is None else ratio <= self.buildkit_target,
            "buildkit_pair_ratios": [round(a.wall / b.wall, 3)
                                     for a, b in zip(self.pybuild, self.buildkit, strict=True) if b.wall],
            "buildkit_samples": [asdict(s) for s in self.buildkit],
        }


class CaseFailed(Exception):
    pass


def _show(cmd: CommandSpec) -> str:
    if callable(cmd):
        cmd = cmd()
    return cmd if isinstance(cmd, str) else " ".join(cmd)


def run_once(cmd: Command, case: Case) -> Sample:
    """Run one command as a child and measure it; raise CaseFailed on a non-zero exit."""
    argv = ["bash", "-o", "pipefail", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    env = dict(os.environ, **(case.env or {}))
    env.setdefault("PYTHONPATH", str(PROJECT))
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=case.cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise CaseFailed(f"{case.name}: `{_show(cmd)}` exited {proc.returncode}: {tail}")
    return Sample(wall=wall, cpu=usage.ru_utime + usage.ru_stime, user=usage.ru_utime, sys=usage.ru_stime,
                  maxrss_kib=usage.ru_maxrss)


def run_case(case: Case, runs: int, log: Callable[[str], None], warmup: bool = True) -> Result:
    """setup, [warm-up], then ``runs`` rounds of pybuild then peer; teardown even on failure."""
    runs = min(runs, case.max_runs or runs)
    result = Result(case.name, case.description, case.peer_name, "", "", runs, target=case.target,
                    buildkit_target=case.buildkit_target)
    try:
        if case.setup:
            log(f"[{case.name}] setup")
            case.setup()
        result.pybuild_cmd, result.peer_cmd = _show(case.pybuild), _show(case.peer)
        sides = [("pybuild", case.pybuild, result.pybuild), (case.peer_name, case.peer, result.peer)]
        if case.buildkit is not None:
            result.buildkit_cmd = _show(case.buildkit)
            sides.append(("buildkit", case.buildkit, result.buildkit))
        if case.notes:
            result.notes = case.notes()
        for i in range(0 if warmup else 1, runs + 1):  # round 0 is the warm-up
            for side, spec, samples in sides:
                if case.before_each:
                    case.before_each()
                cmd = spec() if callable(spec) else spec
                s = run_once(cmd, case)
                if i > 0:
                    samples.append(s)
                log(f"[{case.name}] {'warm-up' if i == 0 else f'run {i}/{runs}'} {side}: "
                    f"{s.wall:.3f}s wall {s.cpu:.3f}s cpu {s.maxrss_kib // 1024} MiB")
    finally:
        if case.teardown:
            case.teardown()
    return result


def discover(ctx: Context) -> list[Case]:
    import benchmarks.cases as pkg

    found: list[Case] = []
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.cases.{mod.name}")
        if hasattr(module, "cases"):
            found.extend(module.cases(ctx))
    found.sort(key=lambda c: _rank(c.name))
    return found


# the order of the runs, results.md and the chart: the cases in its order, then the rest
CASE_ORDER = ["hello-cold", "hello-cached", "multistage-cold", "multistage-cached", "copymany-cold",
              "copymany-cached", "copymany-changed", "biglayer-cold", "push", "pull", "pull-oci",
              "layer-none", "layer-zstd", "layer-gzip"]


def _rank(name: str) -> tuple[int, str]:
    return (CASE_ORDER.index(name) if name in CASE_ORDER else len(CASE_ORDER), name)


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def _ordered(cases: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    return sorted(cases.values(), key=lambda c: _rank(str(c["name"])))


def write_results(new: list[dict[str, object]], results: Path = RESULTS, buildkit: str = "") -> None:
    """Merge ``new`` into results.json (others' entries kept); regenerate results.md and .png.
    ``buildkit``: which BuildKit ran, or why none did (shown above the table)."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / "results.json"
    data: dict[str, object] = {"machine": machine(), "cases": {}, "buildkit": buildkit}
    if path.exists():
        try:
            old = json.loads(path.read_text())
            data["cases"] = old.get("cases", {})
        except ValueError:
            pass
    cases = data["cases"]
    assert isinstance(cases, dict)
    for s in new:
        cases[str(s["name"])] = s
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    (results / "results.md").write_text(render_md(data))
    from benchmarks.chart import ratio_chart

    rows = [(str(c["name"]), float(c["ratio"]) if c["ratio"] is not None else 0.0,  # type: ignore[arg-type]
             float(c["target"]) if c.get("target") is not None else None)  # type: ignore[arg-type]
            for c in _ordered(cases)]
    rows += [(f"{c['name']} bk", float(c["buildkit_ratio"]),  # type: ignore[arg-type]
              float(c["buildkit_target"]) if c.get("buildkit_target") is not None else None)  # type: ignore[arg-type]
             for c in _ordered(cases) if c.get("buildkit_ratio") is not None]
    (results / "results.png").write_bytes(ratio_chart(rows))


def _verdict(c: dict[str, object], prefix: str = "") -> str:
    if c.get(prefix + "target") is None:
        return ""
    return f"<= {c[prefix + 'target']}: " + ("met" if c.get(prefix + "met") else "**missed**")


def render_buildkit(data: dict[str, object]) -> list[str]:
    """The three-way table: pybuild vs buildah vs BuildKit, for the cases BuildKit ran."""
    cases = data["cases"]
    assert isinstance(cases, dict)
    three = [c for c in _ordered(cases) if c.get("buildkit_ratio") is not None]
    lines = ["", "## pybuild vs buildah vs BuildKit", "",
             f"BuildKit: {data.get('buildkit') or 'not run'}. The three sides alternate within each round",
             "(pybuild, buildah, BuildKit); BuildKit keeps a warm daemon, the others start per command.",
             "Chart rows ending in `bk` are pybuild/BuildKit.", ""]
    if not three:
        return lines
    lines += ["| case | runs | pybuild s | buildah s | BuildKit s | pybuild/buildah | pybuild/BuildKit "
              "| target (BuildKit) | pairs (BuildKit) |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for c in three:
        pairs = " ".join(f"{p:.2f}" for p in c.get("buildkit_pair_ratios", []) or [])  # type: ignore[attr-defined]
        ratio = f"{c['ratio']:.2f}" if c["ratio"] is not None else "-"
        lines.append(f"| {c['name']} | {c['runs']} | {c['pybuild_wall_s']:.3f} | {c['peer_wall_s']:.3f} | "
                     f"{c['buildkit_wall_s']:.3f} | {ratio} | {c['buildkit_ratio']:.2f} | "
                     f"{_verdict(c, 'buildkit_')} | {pairs} |")
    return lines


def render_md(data: dict[str, object]) -> str:
    m = data["machine"]
    assert isinstance(m, dict)
    lines = [
        "# pybuild benchmarks", "",
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu')}), Linux {m.get('kernel')}, Python {m.get('python')}.",
        "Median wall time over the counted runs (pybuild and peer alternated, after one warm-up each);",
        "ratio = pybuild / peer (below 1 means pybuild is faster), with the issue's target beside it;",
        "pairs = the ratio of each back-to-back pair; CPU = user + system of the whole process tree",
        f"(median); RSS = the largest process's peak over the runs (target for pybuild: <= {RSS_LIMIT_MIB} MiB).",
        "Chart: [results.png](results.png) (one bar per case: the ratio; the black line is 1.0, the",
        "red tick the target).", "",
        "| case | peer | runs | pybuild s | peer s | ratio | target | pairs | pybuild CPU s | peer CPU s "
        "| pybuild RSS MiB | peer RSS MiB | notes |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
    ]
    cases = data["cases"]
    assert isinstance(cases, dict)
    for c in _ordered(cases):
        pairs = " ".join(f"{p:.2f}" for p in c.get("pair_ratios", []) or [])  # type: ignore[attr-defined]
        rss = f"{c['pybuild_maxrss_mib']}" + ("" if c.get("rss_ok", True) else " **over**")
        ratio = f"{c['ratio']:.2f}" if c["ratio"] is not None else "-"
        lines.append(f"| {c['name']} | {str(c['peer_name']).replace('|', '&#124;')} | {c['runs']} | "
                     f"{c['pybuild_wall_s']:.3f} | {c['peer_wall_s']:.3f} | {ratio} | {_verdict(c)} | {pairs} | "
                     f"{c['pybuild_cpu_s']:.2f} | {c['peer_cpu_s']:.2f} | {rss} | {c['peer_maxrss_mib']} | "
                     f"{c.get('notes', '')} |")
    lines += ["", "Commands:", ""]
    for c in _ordered(cases):
        lines.append(f"- **{c['name']}** ({c['description']}): pybuild `{c['pybuild_cmd']}`; "
                     f"{c['peer_name']} `{c['peer_cmd']}`"
                     + (f"; BuildKit `{c['buildkit_cmd']}`" if c.get("buildkit_cmd") else ""))
    lines += render_buildkit(data)
    return "\n".join(lines) + "\n"


def compile_bytecode(log: Callable[[str], None]) -> None:
    """Write the .pyc files of pybuild and click, as `pip install` does for a user.

    With PYTHONDONTWRITEBYTECODE set (or a read-only checkout), every `pybuild` run would
    compile its ~100 modules from source again (~0.2 s): a cost no installed pybuild pays."""
    import importlib.util

    dirs = []
    for name in ("pybuild", "click"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(spec.submodule_search_locations)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], env=env, capture_output=True)
    if proc.returncode != 0:
        log(f"compileall failed (pybuild runs will compile from source): {proc.stderr[-300:]!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="pybuild vs peers")
    p.add_argument("--runs", type=int, default=None,
                   help="counted runs per side (default 5; 2 with --quick; 1 with --smoke)")
    p.add_argument("--cases", default="", help="comma-separated names or name prefixes (default: all)")
    p.add_argument("--quick", action="store_true", help="small inputs, 2 runs")
    p.add_argument("--smoke", action="store_true",
                   help="small inputs, 1 run, no warm-up; results go to benchmarks/work/smoke/results")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--no-write", action="store_true", help="do not write any results")
    p.add_argument("--results", type=Path, default=None, help="where results.{json,md,png} go")
    p.add_argument("--no-buildkit", action="store_true",
                   help="no BuildKit side (it runs when docker.io is installed: a private dockerd)")
    a = p.parse_args(argv)
    runs = a.runs if a.runs is not None else (1 if a.smoke else 2 if a.quick else 5)
    mode = "smoke" if a.smoke else "quick" if a.quick else "full"
    from benchmarks.dockerd import describe

    buildkit = "skipped: --no-buildkit" if a.no_buildkit else describe()
    ctx = Context(work=WORK / mode, quick=a.quick or a.smoke, smoke=a.smoke,
                  buildkit=not buildkit.startswith("skipped"))
    results = a.results or (WORK / "smoke" / "results" if a.smoke else RESULTS)
    ctx.work.mkdir(parents=True, exist_ok=True)
    cases = discover(ctx)
    if a.cases:
        wanted = [w.strip() for w in a.cases.split(",") if w.strip()]
        cases = [c for c in cases if any(c.name == w or c.name.startswith(w) for w in wanted)]
    if a.list:
        for c in cases:
            print(f"{c.name:24} {c.description}")
        return 0
    if not cases:
        print("no case matches", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"BuildKit: {buildkit}")
    compile_bytecode(log)

    summaries = []
    failed = 0
    for case in cases:
        try:
            summaries.append(run_case(case, runs, log, warmup=not a.smoke).summary())
        except CaseFailed as e:
            failed += 1
            log(f"FAILED {e}")
            continue
        s = summaries[-1]
        log(f"== {case.name}: pybuild {s['pybuild_wall_s']:.3f}s, {case.peer_name} {s['peer_wall_s']:.3f}s, "
            f"ratio {s['ratio']}" + (f" (target <= {case.target})" if case.target is not None else "")
            + (f"; BuildKit {s['buildkit_wall_s']:.3f}s, ratio {s['buildkit_ratio']}" if "buildkit_ratio" in s else ""))
    if summaries and not a.no_write:
        write_results(summaries, results, buildkit=buildkit)
        print((results / "results.md").read_text())
    return 1 if failed else 0
