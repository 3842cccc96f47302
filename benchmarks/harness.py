"""A small harness: pybuild vs a peer, run alternately, medians, CPU and peak RSS.

A :class:`Case` names two commands (pybuild's and the peer's). The harness runs
``setup`` once, then one untimed warm-up of each side, then ``runs`` counted rounds
A B A B ... (alternating, so drift in the machine's state hits both sides alike),
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


@dataclass
class Context:
    """What a case module gets: where to put generated data, and how thorough to be."""

    work: Path
    quick: bool
    python: str = sys.executable
    project: Path = PROJECT


@dataclass
class Case:
    """One comparison. ``pybuild`` and ``peer`` are argv lists or shell strings."""

    name: str
    pybuild: Command
    peer: Command
    peer_name: str = "peer"
    description: str = ""
    setup: Callable[[], None] | None = None  # once, before the warm-up
    before_each: Callable[[], None] | None = None  # before every run of either side
    teardown: Callable[[], None] | None = None  # once, at the end
    cwd: Path | None = None
    env: dict[str, str] | None = None  # added to the environment


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
    pybuild: list[Sample] = field(default_factory=list)
    peer: list[Sample] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        def med(samples: list[Sample], attr: str) -> float:
            return statistics.median(getattr(s, attr) for s in samples)

        pw, qw = med(self.pybuild, "wall"), med(self.peer, "wall")
        return {
            "name": self.name, "description": self.description, "peer_name": self.peer_name,
            "pybuild_cmd": self.pybuild_cmd, "peer_cmd": self.peer_cmd, "runs": self.runs,
            "pybuild_wall_s": round(pw, 4), "peer_wall_s": round(qw, 4),
            "ratio": round(pw / qw, 3) if qw else None,
            "pybuild_cpu_s": round(med(self.pybuild, "cpu"), 3), "peer_cpu_s": round(med(self.peer, "cpu"), 3),
            "pybuild_maxrss_mib": round(max(s.maxrss_kib for s in self.pybuild) / 1024, 1),
            "peer_maxrss_mib": round(max(s.maxrss_kib for s in self.peer) / 1024, 1),
            "pybuild_samples": [asdict(s) for s in self.pybuild],
            "peer_samples": [asdict(s) for s in self.peer],
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


class CaseFailed(Exception):
    pass


def _show(cmd: Command) -> str:
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


def run_case(case: Case, runs: int, log: Callable[[str], None]) -> Result:
    result = Result(case.name, case.description, case.peer_name, _show(case.pybuild), _show(case.peer), runs)
    if case.setup:
        log(f"[{case.name}] setup")
        case.setup()
    try:
        for i in range(runs + 1):  # round 0 is the warm-up
            for side, cmd, samples in (("pybuild", case.pybuild, result.pybuild),
                                       (case.peer_name, case.peer, result.peer)):
                if case.before_each:
                    case.before_each()
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
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"benchmarks.cases.{mod.name}")
        if hasattr(module, "cases"):
            found.extend(module.cases(ctx))
    return found


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


def write_results(new: list[dict[str, object]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "results.json"
    data: dict[str, object] = {"machine": machine(), "cases": {}}
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
    (RESULTS / "results.md").write_text(render_md(data))
    from benchmarks.chart import bar_chart

    rows = [(str(c["name"]), float(c["pybuild_wall_s"]), float(c["peer_wall_s"]))
            for c in sorted(cases.values(), key=lambda c: str(c["name"]))]
    (RESULTS / "results.png").write_bytes(bar_chart(rows))


def render_md(data: dict[str, object]) -> str:
    m = data["machine"]
    assert isinstance(m, dict)
    lines = [
        "# pybuild benchmarks", "",
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu')}), Linux {m.get('kernel')}, Python {m.get('python')}.",
        "Median wall time over the counted runs (pybuild and peer alternated, after one warm-up each);",
        "ratio = pybuild / peer (below 1 means pybuild is faster); CPU = user + system of the whole",
        "process tree (median); RSS = the largest process's peak over the runs.", "",
        "| case | peer | runs | pybuild s | peer s | ratio | pybuild CPU s | peer CPU s "
        "| pybuild RSS MiB | peer RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cases = data["cases"]
    assert isinstance(cases, dict)
    for name in sorted(cases):
        c = cases[name]
        lines.append(f"| {name} | {str(c['peer_name']).replace('|', '&#124;')} | {c['runs']} | {c['pybuild_wall_s']:.3f} | "
                     f"{c['peer_wall_s']:.3f} | {c['ratio']:.2f} | {c['pybuild_cpu_s']:.2f} | "
                     f"{c['peer_cpu_s']:.2f} | {c['pybuild_maxrss_mib']} | {c['peer_maxrss_mib']} |")
    lines += ["", "Commands:", ""]
    for name in sorted(cases):
        c = cases[name]
        lines.append(f"- **{name}** ({c['description']}): pybuild `{c['pybuild_cmd']}`; "
                     f"{c['peer_name']} `{c['peer_cmd']}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="pybuild vs peers")
    p.add_argument("--runs", type=int, default=None, help="counted runs per side (default 5, 2 with --quick)")
    p.add_argument("--cases", default="", help="comma-separated names or name prefixes (default: all)")
    p.add_argument("--quick", action="store_true", help="small inputs, 2 runs: a smoke test")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--no-write", action="store_true", help="do not update benchmarks/results/")
    a = p.parse_args(argv)
    runs = a.runs if a.runs is not None else (2 if a.quick else 5)
    ctx = Context(work=WORK / ("quick" if a.quick else "full"), quick=a.quick)
    ctx.work.mkdir(parents=True, exist_ok=True)
    cases = discover(ctx)
    if a.cases:
        wanted = [w.strip() for w in a.cases.split(",") if w.strip()]
        cases = [c for c in cases if any(c.name == w or c.name.startswith(w + "-") or c.name.startswith(w)
                                         for w in wanted)]
    if a.list:
        for c in cases:
            print(f"{c.name:24} {c.description}")
        return 0
    if not cases:
        print("no case matches", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    summaries = []
    failed = 0
    for case in cases:
        try:
            summaries.append(run_case(case, runs, log).summary())
        except CaseFailed as e:
            failed += 1
            log(f"FAILED {e}")
            continue
        s = summaries[-1]
        log(f"== {case.name}: pybuild {s['pybuild_wall_s']:.3f}s, {case.peer_name} {s['peer_wall_s']:.3f}s, "
            f"ratio {s['ratio']}")
    if summaries and not a.no_write:
        write_results(summaries)
        print((RESULTS / "results.md").read_text())
    return 1 if failed else 0
