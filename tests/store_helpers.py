"""Helpers for tests that load one store from several processes: start pybuild commands
in the background, run a command in a loop beside them, and judge how each one ended."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from tests.cli_helpers import PYBUILD


def spawn(root: Path, *args: str) -> subprocess.Popen[str]:
    """``pybuild --root ROOT ARGS`` in the background, its output captured."""
    return subprocess.Popen([*PYBUILD, "--root", str(root), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "1"})


def clean_failure(rc: int, stderr: str) -> str | None:
    """Why an exit is not acceptable (a traceback, several lines of error, a signal), or None."""
    if rc == 0:
        return None
    if "Traceback" in stderr:
        return f"traceback:\n{stderr}"
    errors = [line for line in stderr.splitlines() if line.strip()]
    if rc < 0:
        return f"killed by signal {-rc}"
    if len(errors) < 1 or not errors[-1].startswith("Error: "):
        return f"exit {rc} without one error line:\n{stderr}"
    return None


class Loop(threading.Thread):
    """Runs the pybuild commands ``commands`` one after another, round and round, until
    :meth:`stop`; keeps every ending that was not clean."""

    def __init__(self, root: Path, *commands: list[str]) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.commands = commands
        self.halt = threading.Event()
        self.runs = 0
        self.failures = 0
        self.bad: list[str] = []

    def run(self) -> None:
        while not self.halt.is_set():
            for args in self.commands:
                proc = subprocess.run([*PYBUILD, "--root", str(self.root), *args], capture_output=True,
                                      text=True, timeout=300, env={**os.environ, "CI": "1"})
                self.runs += 1
                self.failures += proc.returncode != 0
                why = clean_failure(proc.returncode, proc.stderr)
                if why:
                    self.bad.append(f"{' '.join(args)}: {why}")

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=300)
