"""The progress renderers fed library events directly (no build, no root): plain lines with
step times, and the live view read through a terminal emulator (pyte) of 80x24."""

from __future__ import annotations

import io
import threading

import pytest

from pybuild.cli.progress import Renderer
from pybuild.events import Event


def step(n: int, total: int, text: str, stage: str = "0") -> Event:
    return Event("step", f"STEP {n}/{total}: {text}", {"step": n, "total": total, "stage": stage})


def done(n: int, total: int, *, cached: bool = False, stage: str = "0", duration: float = 0.25) -> Event:
    return Event("step-done", "", {"step": n, "total": total, "stage": stage, "duration": duration,
                                   "cached": cached})


def screen_of(raw: str) -> list[str]:
    pyte = pytest.importorskip("pyte", reason="pyte is not installed (pip install pyte)")
    screen = pyte.Screen(80, 24)
    pyte.Stream(screen).feed(raw.replace("\n", "\r\n"))  # a tty's onlcr
    return [line.rstrip() for line in screen.display if line.strip()]


def test_plain_lines_close_each_executed_step_with_its_time() -> None:
    out = io.StringIO()
    r = Renderer("plain", out=out, err=io.StringIO())
    for e in (step(1, 2, "FROM busybox"), done(1, 2, duration=0.04), step(2, 2, "RUN echo hi"),
              Event("output", "hi\n"), Event("info", "--> 1234abcd"), done(2, 2, duration=1.26)):
        r(e)
    assert out.getvalue() == ("STEP 1/2: FROM busybox\n--> DONE 0.0s\nSTEP 2/2: RUN echo hi\nhi\n--> 1234abcd\n"
                              "--> DONE 1.3s\n")
    cached = io.StringIO()
    r = Renderer("plain", out=cached)
    for e in (step(2, 2, "RUN echo hi"), Event("cache-hit", "--> Using cache abc", {"step": 2}),
              done(2, 2, cached=True)):
        r(e)
    assert cached.getvalue() == "STEP 2/2: RUN echo hi\n--> Using cache abc\n"  # BuildKit: no time for CACHED


def test_live_view_collapses_done_steps_and_marks_cache_hits() -> None:
    err = io.StringIO()
    r = Renderer("tty", out=io.StringIO(), err=err)
    r(step(1, 3, "FROM busybox"))
    r(done(1, 3))
    r(step(2, 3, "ENV A=1"))
    r(Event("cache-hit", "--> Using cache abc", {"step": 2}))
    r(done(2, 3, cached=True))
    r(step(3, 3, "RUN make"))
    r(Event("output", "\x1b[31mcompiling\x1b[0m a.c\n\tlinking\nalmost"))
    running = screen_of(err.getvalue())
    assert running[0].startswith("[+] Building") and running[0].endswith("(2/3)")
    assert running[1].startswith(" => STEP 1/3: FROM busybox") and running[2].startswith(" => CACHED STEP 2/3")
    assert running[3].startswith(" => STEP 3/3: RUN make")
    assert running[4:] == [" => => # compiling a.c", " => => #         linking", " => => # almost"]
    r(done(3, 3))
    r(Event("info", "COMMIT app"))
    r(Event("info", "Successfully tagged localhost/app:latest"))
    r(Event("image", "ID", {"id": "ID"}))
    r.close()
    final = screen_of(err.getvalue())
    assert final[0].endswith("(3/3) FINISHED")
    heads = (" => STEP 1/3: FROM busybox ", " => CACHED STEP 2/3: ENV A=1 ", " => STEP 3/3: RUN make ")
    assert all(line.startswith(head) and line.endswith("s") for line, head in zip(final[1:4], heads, strict=True))
    assert final[4].startswith(" => COMMIT app") and final[5] == " => => Successfully tagged localhost/app:latest"
    assert len(final) == 6  # the output lines are gone
    assert all(len(line) < 80 for line in final)


def test_live_view_keeps_a_failed_steps_output_and_fits_long_lines() -> None:
    err = io.StringIO()
    r = Renderer("tty", out=io.StringIO(), err=err)
    r(step(1, 2, "FROM busybox"))
    r(done(1, 2))
    r(step(2, 2, "RUN " + "x" * 200))
    r(Event("output", "".join(f"line {n}\n" for n in range(20))))
    r.close(failed=True)
    final = screen_of(err.getvalue())
    assert final[0].endswith("ERROR")
    assert final[2].startswith(" => ERROR STEP 2/2: RUN xxx") and "..." in final[2] and len(final[2]) <= 79
    assert final[3:] == [f" => => # line {n}" for n in range(14, 20)]  # its last lines


def test_live_view_routes_each_threads_events_to_its_step() -> None:
    err = io.StringIO()
    r = Renderer("tty", out=io.StringIO(), err=err)
    ready = threading.Barrier(2)

    def stage(name: str) -> None:
        r(step(1, 1, f"RUN {name}", stage=name))
        ready.wait(timeout=10)
        r(Event("output", f"out of {name}\n"))

    threads = [threading.Thread(target=stage, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    lines = screen_of(err.getvalue())
    assert sum(line.startswith("[+] Building") for line in lines) == 1
    for name in ("a", "b"):
        at = next(i for i, line in enumerate(lines) if line.startswith(f" => STEP 1/1: RUN {name}"))
        assert lines[at + 1] == f" => => # out of {name}", lines
    r.close()
