"""A private dockerd for the BuildKit side of the build cases, started on demand, stopped at exit.

BuildKit is the builder most users would pick instead of pybuild; Debian's docker.io (20.10)
embeds it. The harness installs nothing: when /usr/sbin/dockerd and /usr/bin/docker are
there, the first case that needs BuildKit starts a daemon of its own (data and exec roots and
the socket in a temp dir, no bridge, no iptables, no registry mirror), so it never touches a
system daemon's images or cache; it is stopped (and its temp dir removed) when the command
exits. /usr/bin/docker is named in full: another `docker` earlier on PATH may lack the
classic builder's BuildKit support.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

from benchmarks.harness import CaseFailed

DOCKERD = Path("/usr/sbin/dockerd")
DOCKER = Path("/usr/bin/docker")
START_TIMEOUT_S = 60


def missing() -> str:
    """Why BuildKit cannot run here ('' when it can)."""
    for tool in (DOCKERD, DOCKER):
        if not os.access(tool, os.X_OK):
            return f"{tool} not installed (apt-get install docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root"
    return ""


class Dockerd:
    """One daemon in a temp dir; ``docker(...)`` builds an argv against its socket."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pybuild-bench-dockerd."))
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""
        self.loaded: set[str] = set()

    def start(self) -> None:
        log = open(self.dir / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [str(DOCKERD), "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
             "-H", self.host, "--pidfile", str(self.dir / "docker.pid"), "--bridge=none",
             "--iptables=false", "--ip-masq=false", "--containerd-namespace", "pybuild-bench",
             "--containerd-plugins-namespace", "pybuild-bench-plugins"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            probe = subprocess.run(self.docker("version", "--format", "{{.Server.Version}}"),
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                self.version = probe.stdout.strip()
                return
            time.sleep(0.2)
        tail = (self.dir / "dockerd.log").read_text(errors="replace")[-1500:]
        self.stop()
        raise CaseFailed(f"dockerd did not start within {START_TIMEOUT_S}s: {tail}")

    def stop(self) -> None:
        """SIGTERM the daemon (it stops its containerd), wait, then remove the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        from benchmarks.stores import unmount_under

        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def docker(self, *args: str) -> list[str]:
        return [str(DOCKER), "-H", self.host, *args]

    def build(self, tag: str, context: Path, *flags: str, containerfile: str = "Containerfile") -> list[str]:
        """`docker build` through BuildKit, host network (as pybuild's and buildah's RUN see it)."""
        return ["env", "DOCKER_BUILDKIT=1", *self.docker("build", "-q", "--network", "host", *flags, "-t", tag,
                                                         "-f", str(context / containerfile), str(context))]

    def load_from_pybuild(self, image: str, pybuild_argv: list[str]) -> None:
        """Export ``image`` from pybuild's store as a docker-archive and `docker load` it (once)."""
        if image in self.loaded:
            return
        archive = self.dir / f"{image.replace('/', '_').replace(':', '_')}.tar"
        from benchmarks.stores import run

        run([*pybuild_argv, "push", "-q", image, f"docker-archive:{archive}:{image}:latest"])
        run(self.docker("load", "-i", str(archive)))
        archive.unlink()
        self.loaded.add(image)


@cache
def instance() -> Dockerd:
    """The process's one daemon, not started yet (its socket path is known: cases name it)."""
    d = Dockerd()
    atexit.register(d.stop)
    return d


def daemon() -> Dockerd:
    """The daemon, started on first use; raises CaseFailed if BuildKit cannot run."""
    why = missing()
    if why:
        raise CaseFailed(f"BuildKit: {why}")
    d = instance()
    if d.proc is None:
        d.start()
    return d


@cache
def describe() -> str:
    """Which BuildKit will run (docker.io's version; its BuildKit is built in), or 'skipped: why'."""
    why = missing()
    if why:
        return f"skipped: {why}"
    out = subprocess.run([str(DOCKERD), "--version"], capture_output=True, text=True).stdout.strip()
    return f"{out} (dockerd's embedded BuildKit and dockerfile frontend; `docker build`, DOCKER_BUILDKIT=1)"
