"""Where the fixed cost of one `pybuild bud` goes: start, import, parse, steps, store, output.

    python benchmarks/tools/breakdown.py --root R [--runs 5] -- bud -q -t hello CTX

start: `python -c pass` (the interpreter and site); import: `python -c "import ..."` of
every module the command loads (as `python -X importtime` lists them), less start; the phases inside the
command come from cProfile (cumulative time of the executor's functions, imports made
inside them subtracted), scaled so that they and import add up to the command's own
wall time measured without the profiler. Medians over ``--runs``. Also prints how many
times the store mounted, unmounted, set layers and fsynced: on a fully cached build
all should be 0 (issue 19). Beneath the steps: their network, rootfs mounts, runc and commits
(cProfile sees the main thread only: steps of stages built in parallel threads show as 0). For issue 19's note; the machine's load makes single figures noisy.
"""

from __future__ import annotations

import argparse
import pstats
import statistics
import subprocess
import sys
import tempfile
import time

# phase -> (file suffix, function name) whose cumulative time is the phase
PHASES = {
    "store": [("builder/store.py", "__init__")],
    "parse": [("builder/executor.py", "load")],
    "steps (keys, cache)": [("builder/executor.py", "_run_stages")],
    "output": [("builder/executor.py", "_write_image")],
    "cleanup": [("builder/executor.py", "_cleanup")],
}
# parts of "steps", shown beneath it (not added again): where a RUN step's time goes
RUN_PARTS = {
    "network (claim/set-up, park/teardown)": [("sandbox/network.py", n) for n in ("_claim", "_set_up", "_park",
                                                                                   "_tear_down")],
    "rootfs mount + unmount": [("sandbox/overlay.py", "mount"), ("builder/container.py", "unmount")],
    "runc create+start+process": [("sandbox/oci.py", "_run_monitored")],
    "runc (bundle, delete, all)": [("sandbox/oci.py", "run_oci")],
    "commit (every step)": [("builder/steps.py", "commit_step")],
}
COUNTED = {"mount": ("sandbox/overlay.py", "mount"), "unmount": ("builder/container.py", "unmount"),
           "set_layers": ("builder/container.py", "set_layers"), "fsync": ("~", "<built-in method posix.fsync>")}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def imported(argv: list[str]) -> list[str]:
    """The modules the command imports beyond what `python -c pass` does, in import order."""
    def names(args: list[str]) -> list[str]:
        err = subprocess.run([sys.executable, "-X", "importtime", *args], check=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True).stderr
        return [line.split("|")[2].strip() for line in err.splitlines()
                if line.startswith("import time:") and line.split("|")[0].split(":")[1].strip().isdigit()]

    base = set(names(["-c", "pass"]))
    return [n for n in names(argv) if n not in base and n != "__main__"]


def profile(argv: list[str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".prof") as out:
        subprocess.run([sys.executable, "-m", "cProfile", "-o", out.name, *argv], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stats = pstats.Stats(out.name).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    total = max(v[3] for v in stats.values())
    for phase, funcs in (PHASES | RUN_PARTS).items():
        found[phase] = sum(v[3] for (f, _, name), v in stats.items()
                           if any(f.endswith(s) and name == n for s, n in funcs)) * 1000
    for what, (suffix, name) in COUNTED.items():
        found["#" + what] = sum(v[1] for (f, _, n), v in stats.items() if f.endswith(suffix) and n == name)
    found["total"] = total * 1000
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("args", nargs="+", help="pybuild's arguments (after --)")
    a = p.parse_args()
    cmd = ["-m", "pybuild", *a.args]
    subprocess.run([sys.executable, *cmd], check=True, stdout=subprocess.DEVNULL)  # warm the cache
    start = statistics.median(wall([sys.executable, "-c", "pass"]) * 1000 for _ in range(a.runs))
    whole = statistics.median(wall([sys.executable, *cmd]) * 1000 for _ in range(a.runs))
    mods = imported(cmd)
    code = f"import importlib\nfor m in {mods!r}:\n    try: importlib.import_module(m)\n    except ImportError: pass"
    imp = statistics.median(wall([sys.executable, "-c", code]) * 1000 for _ in range(a.runs)) - start
    profs = [profile(cmd) for _ in range(a.runs)]
    med = {k: statistics.median(pr[k] for pr in profs) for k in profs[0]}
    inside = sum(med[k] for k in PHASES) or 1.0
    scale = max(0.0, whole - start - imp) / inside  # profiler overhead out: phases share the rest
    print(f"`pybuild {' '.join(a.args)}`: {whole:.0f} ms wall (median of {a.runs})")
    print(f"  start (python -c pass)   {start:6.0f} ms")
    print(f"  import ({len(mods)} modules)     {imp:6.0f} ms")
    for k in PHASES:
        print(f"  {k:24} {med[k] * scale:6.0f} ms   (profiled {med[k]:.0f} ms)")
    for k in RUN_PARTS:
        print(f"    {k:38} {med[k] * scale:6.0f} ms")
    print("  counts: " + ", ".join(f"{k[1:]} x{med[k]:.0f}" for k in med if k.startswith("#")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
