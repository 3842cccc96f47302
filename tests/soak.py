"""The store soak: random SIGKILLs across bud, pull, push, commit, rmi and prune, then
concurrent builds beside tag/rmi/prune loops, then a check of the store as a user relies
on it. The CI test runs it small (tests/integration/test_store_soak.py); scripts/soak.sh
runs it long by hand and prints the figures.

    python -m tests.soak --work DIR --kills 160 --rounds 3 --builds 8 [--seed N]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

OPS = ("bud", "pull", "push", "commit", "rmi", "prune")


@dataclass
class SoakReport:
    """What happened: kills per operation, how the unkilled runs ended, what the check found."""

    kills: collections.Counter[str] = field(default_factory=collections.Counter)
    finished: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)  # by kind
    bad: list[str] = field(default_factory=list)  # failures that were not one clean line
    builds: int = 0
    build_failures: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> bool:
        return not self.bad and not self.problems and self.build_failures == 0

    def lines(self) -> list[str]:
        return [f"kills: {sum(self.kills.values())} ({dict(sorted(self.kills.items()))})",
                f"finished before the kill: {dict(sorted(self.finished.items()))}",
                f"failures by kind: {dict(sorted(self.failures.items())) or 'none'}",
                f"concurrent builds: {self.builds}, failed: {self.build_failures}",
                f"not clean: {len(self.bad)}", *[f"  {b}" for b in self.bad[:10]],
                f"store check: {len(self.problems)} problem(s)", *[f"  {p}" for p in self.problems[:10]],
                f"time: {self.seconds:.0f}s"]


def _cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pybuild", "--root", str(root), *args]


def _run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_cmd(root, *args), capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CI": "1"})
    if check and proc.returncode != 0:
        raise RuntimeError(f"pybuild {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _kind(stderr: str) -> str:
    """A failure's kind, from its error line (the words before the first detail)."""
    line = next((x for x in reversed(stderr.splitlines()) if x.startswith("Error: ")), "")
    for word in ("not known", "missing", "no space", "in use", "several names", "lock", "digest", "removed"):
        if word in line.lower():
            return word
    return line[7:47] or "other"


class Soak:
    def __init__(self, work: Path, seed: int) -> None:
        self.work = work
        self.root = work / "root"
        self.rng = random.Random(seed)
        self.report = SoakReport()
        self.n = 0

    # -- setup --------------------------------------------------------------------------------

    def setup(self, busybox_ctx: Path) -> None:
        _run(self.root, "bud", "-q", "-t", "busybox", str(busybox_ctx))
        big = self.work / "big-ctx"
        big.mkdir()
        for i in range(3):
            (big / f"blob{i}").write_bytes(os.urandom(6 << 20))
        (big / "Containerfile").write_text("FROM busybox\nCOPY blob0 /a\nCOPY blob1 /b\nCOPY blob2 /c\n")
        _run(self.root, "bud", "-q", "-t", "big", str(big))
        _run(self.root, "push", "big", f"oci:{self.work}/layout:big")
        _run(self.root, "push", "busybox", f"oci:{self.work}/layout:bb")

    def _context(self, unique: bool) -> Path:
        self.n += 1
        ctx = self.work / f"ctx{self.n}"
        ctx.mkdir()
        tag = self.n if unique else 0
        (ctx / "f").write_bytes(os.urandom(1 << 20) if unique else b"shared\n")
        (ctx / "Containerfile").write_text(f"FROM busybox\nCOPY f /f\nRUN echo {tag} > /n && sleep 0.4\n")
        return ctx

    def _args(self, op: str) -> list[str]:
        if op == "bud":
            return ["bud", "-q", "-t", f"soak{self.n % 5}", str(self._context(self.rng.random() < 0.7))]
        if op == "pull":
            return ["pull", "-q", f"oci:{self.work}/layout:big"]
        if op == "push":
            return ["push", self.rng.choice(["big", "busybox"]), f"oci:{self.work}/out{self.n % 3}:x"]
        if op == "commit":
            ctr = _run(self.root, "from", "busybox").stdout.strip().splitlines()[-1]
            _run(self.root, "run", ctr, "--", "sh", "-c", f"head -c 2000000 /dev/urandom > /r{self.n}")
            return ["commit", ctr, f"committed{self.n % 3}"]
        if op == "rmi":
            return ["rmi", "-f", f"soak{self.rng.randrange(5)}", f"committed{self.rng.randrange(3)}"]
        return ["prune"]

    # -- phases -------------------------------------------------------------------------------

    def kill_phase(self, kills: int) -> None:
        """Start an operation, SIGKILL it after a random delay, and let the next command open
        the store while the killed process is still a zombie."""
        attempts = 0
        took: dict[str, float] = {}
        while sum(self.report.kills.values()) < kills and attempts < 5 * kills:
            attempts += 1
            op = self.rng.choice(OPS)
            args = self._args(op)
            proc = subprocess.Popen(_cmd(self.root, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, env={**os.environ, "CI": "1"})
            started = time.monotonic()
            # kill within its run time: the first run of an operation measures it (polled, so the
            # figure is its real run time, not the delay), later runs die between 5% and 90% of it
            run_time = took.get(op, 1.5)
            deadline = started + self.rng.uniform(0.05 * run_time, 0.9 * run_time)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                self.report.kills[op] += 1
                opened = _run(self.root, "images", check=False)  # the killed one is a zombie now
                if opened.returncode != 0:
                    self.report.bad.append(f"images after a killed {op}: {opened.stderr.strip()}")
                proc.wait()
                proc.stderr.close()  # type: ignore[union-attr]
            else:
                took[op] = min(took.get(op, 1e9), time.monotonic() - started)
                self.report.finished[op] += 1
                stderr = proc.stderr.read()  # type: ignore[union-attr]
                proc.stderr.close()  # type: ignore[union-attr]
                self._judge(op, proc.returncode, stderr)

    def _judge(self, what: str, rc: int, stderr: str) -> None:
        from tests.store_helpers import clean_failure

        if rc == 0:
            return
        why = clean_failure(rc, stderr)
        if why:
            self.report.failures["not clean"] += 1
            self.report.bad.append(f"{what}: {why}")
        else:
            self.report.failures[_kind(stderr)] += 1

    def concurrency_phase(self, rounds: int, builds: int) -> None:
        """``builds`` builds at once (in pairs with the same steps) beside tag/rmi/prune loops."""
        from tests.store_helpers import Loop

        contexts = [self._context(True) for _ in range(max(1, builds // 2))]
        for _ in range(rounds):
            loops = [Loop(self.root, ["tag", "busybox", "extra"], ["rmi", "extra"]),
                     Loop(self.root, ["rmi", "-f", "conc0"], ["images"]),
                     Loop(self.root, ["prune"])]
            for loop in loops:
                loop.start()
            procs = [subprocess.Popen(_cmd(self.root, "bud", "-q", "-t", f"conc{j}", str(contexts[j % len(contexts)])),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, "CI": "1"}) for j in range(builds)]
            for p in procs:
                _out, err = p.communicate(timeout=900)
                self.report.builds += 1
                if p.returncode != 0:
                    self.report.build_failures += 1
                    self._judge("concurrent bud", p.returncode, err)
            for loop in loops:
                loop.stop()
                self.report.bad += loop.bad
                self.report.failures["loop command failed cleanly"] += loop.failures - len(loop.bad)

    def final_check(self) -> None:
        """The store as a user relies on it, after the dust settles."""
        from pybuild.builder.fsck import check
        from pybuild.builder.store import Store

        _run(self.root, "images")
        self.report.problems += check(Store(self.root), quiescent=True)
        time.sleep(1.0)  # a killed RUN's step is stopped by the next command; let it exit
        stray = subprocess.run(["pgrep", "-f", str(self.root)], capture_output=True, text=True).stdout.split()
        self.report.problems += [f"process {pid} still runs on the store" for pid in stray]
        ctx = self._context(True)
        for args in (["bud", "-q", "-t", "after", str(ctx)], ["push", "after", f"oci:{self.work}/final:after"],
                     ["images", "--json"]):
            proc = _run(self.root, *args, check=False)
            if proc.returncode != 0:
                self.report.problems.append(f"{' '.join(args[:1])} after the soak failed: {proc.stderr.strip()}")
        for img in json.loads(_run(self.root, "images", "--json").stdout):
            if _run(self.root, "inspect", img["id"], check=False).returncode != 0:
                self.report.problems.append(f"inspect {img['id'][:12]} fails")


def run_soak(work: Path, busybox_ctx: Path, *, kills: int, rounds: int, builds: int, seed: int) -> SoakReport:
    start = time.monotonic()
    soak = Soak(work, seed)
    soak.setup(busybox_ctx)
    soak.kill_phase(kills)
    soak.concurrency_phase(rounds, builds)
    soak.final_check()
    soak.report.seconds = time.monotonic() - start
    return soak.report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="an empty directory to work in")
    parser.add_argument("--kills", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--builds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    a = parser.parse_args()
    import shutil

    a.work.mkdir(parents=True, exist_ok=True)
    ctx = a.work / "busybox-ctx"
    ctx.mkdir()
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    project = Path(__file__).resolve().parent.parent
    shutil.copy2(project / "examples" / "Containerfiles" / "busybox" / "Containerfile", ctx / "Containerfile")
    print(f"seed: {a.seed}")
    report = run_soak(a.work, ctx, kills=a.kills, rounds=a.rounds, builds=a.builds, seed=a.seed)
    print("\n".join(report.lines()))
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
