"""The fixed cost of one command in counts and CPU time, which a loaded machine does not blur.

    python benchmarks/tools/cached_cost.py [--runs 9] -- --root R bud -q -t t1 CTX

Wall time swings by 2x when other jobs share the cores (issue 19); CPU time of the child
(``getrusage(RUSAGE_CHILDREN)``) swings much less, and counts not at all. Prints: the modules
the command imports beyond ``python -c pass`` (``-X importtime``), pybuild's own among them,
the dataclasses created (``dataclasses._process_class`` wrapped: how many, and their CPU ms),
and the median CPU ms (user + sys) of the whole process over ``--runs``. The children run
without PYTHONDONTWRITEBYTECODE, as benchmarks/harness.py does: an installed pybuild runs from
its .pyc files, and with the variable set every run compiles every pybuild module again (about
half of a cached build's CPU here).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
# Runs the CLI with dataclasses._process_class wrapped; prints "count ms" to stderr at exit.
_COUNT_DATACLASSES = """
import atexit, dataclasses, sys, time
made = []
real = dataclasses._process_class
def counted(cls, *args):
    start = time.thread_time()
    try:
        return real(cls, *args)
    finally:
        made.append(time.thread_time() - start)
dataclasses._process_class = counted
atexit.register(lambda: print("dataclasses", len(made), sum(made) * 1000, file=sys.stderr))
sys.argv = ["pybuild", *sys.argv[1:]]
from pybuild.cli import main
main()
"""


def imported(args: list[str]) -> list[str]:
    def names(argv: list[str]) -> list[str]:
        err = subprocess.run([sys.executable, "-X", "importtime", *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, check=True, env=ENV).stderr
        return [line.split("|")[2].strip() for line in err.splitlines()
                if line.startswith("import time:") and line.count("|") == 2 and "imported package" not in line]

    base = set(names(["-c", "pass"]))
    return [n for n in names(["-m", "pybuild", *args]) if n not in base]


def cpu_ms(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def dataclasses_made(args: list[str]) -> tuple[int, float]:
    err = subprocess.run([sys.executable, "-c", _COUNT_DATACLASSES, *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, check=True, env=ENV).stderr
    line = [x for x in err.splitlines() if x.startswith("dataclasses ")][-1].split()
    return int(line[1]), float(line[2])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("args", nargs="+", help="pybuild's arguments (after --)")
    a = p.parse_args()
    argv = [sys.executable, "-m", "pybuild", *a.args]
    cpu_ms(argv)  # warm the page cache and write __pycache__
    mods = imported(a.args)
    own = [m for m in mods if m == "pybuild" or m.startswith("pybuild.")]
    made = [dataclasses_made(a.args) for _ in range(a.runs)]
    start = statistics.median(cpu_ms([sys.executable, "-c", "pass"]) for _ in range(a.runs))
    whole = statistics.median(cpu_ms(argv) for _ in range(a.runs))
    print(f"modules imported (beyond python -c pass): {len(mods)} ({len(own)} pybuild)")
    print(f"dataclasses created: {made[0][0]} ({statistics.median(m[1] for m in made):.1f} ms CPU, median)")
    print(f"CPU ms, median of {a.runs}: whole {whole:.0f}, python -c pass {start:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
