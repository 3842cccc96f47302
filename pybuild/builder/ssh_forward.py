"""``bud --ssh`` and ``RUN --mount=type=ssh``: an ssh agent forwarded into RUN as a socket.

An id names an agent: ``default`` alone is the caller's $SSH_AUTH_SOCK; ``ID=SOCKET`` another
running agent; ``ID=KEY[,KEY]`` an ssh-agent of pybuild's own, started for the build and
holding those keys (ssh-add reads them; pybuild never copies a key). Each RUN mount is a
relay socket of its own (owner, group and mode as the mount asks, BuildKit's 0600 root by
default) that passes bytes to the agent, bind-mounted at the target: no key or agent path
reaches a layer, a cache key or the history, and the relay is gone when the step ends.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pybuild.errors import ConfigError

if TYPE_CHECKING:
    from pybuild.builder.store import Store


def parse_ssh(items: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """``--ssh`` values (``default|ID[=SOCKET|KEY[,KEY]]``) -> id -> paths (empty: $SSH_AUTH_SOCK)."""
    out: dict[str, list[str]] = {}
    for item in items:
        sid, sep, value = item.partition("=")
        if not sid or (sep and not value):
            raise ConfigError(f"invalid --ssh {item!r} (use default or ID=SOCKET|KEY[,KEY])")
        paths = [os.path.abspath(p) for p in value.split(",")] if sep else []
        if not paths:
            sock = os.environ.get("SSH_AUTH_SOCK")
            if not sock:
                raise ConfigError(f"--ssh {sid}: $SSH_AUTH_SOCK is not set (no agent to forward; "
                                  "give ID=KEYFILE or ID=SOCKET)")
            paths = [sock]
        for p in paths:
            if not os.path.exists(p):
                raise ConfigError(f"--ssh {sid}: {p} does not exist")
        if len(paths) > 1 and any(_is_socket(p) for p in paths):
            raise ConfigError(f"--ssh {sid}: give one agent socket, or key files")
        out[sid] = paths
    return out


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


class Agents:
    """The build's agents by id; an agent of our own starts when first asked for."""

    def __init__(self, store: Store, specs: dict[str, list[str]]) -> None:
        self.store = store
        self.specs = specs
        self._sockets: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    def socket(self, sid: str) -> str | None:
        """The agent socket for ``sid``, or None when the build was given no such id."""
        paths = self.specs.get(sid)
        if paths is None:
            return None
        with self._lock:
            if sid not in self._sockets:
                if _is_socket(paths[0]):
                    self._sockets[sid] = paths[0]
                else:
                    self._sockets[sid] = self._stack.enter_context(_own_agent(self.store, sid, paths))
            return self._sockets[sid]

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def _own_agent(store: Store, sid: str, keys: list[str]) -> Iterator[str]:
    """ssh-agent on a socket in a 0700 scratch dir, holding ``keys``, for the build only.

    ssh-agent is setgid, so no parent-death signal survives its exec; it is run with a
    command instead (a ``cat`` of a pipe from pybuild) and, as ssh-agent does, it exits once
    that command has: a killed pybuild closes the pipe, the cat ends, the agent follows
    within its 10-second check. A build that ends normally stops it at once."""
    import select
    import signal

    from pybuild.builder.store import remove_tree

    agent = shutil.which("ssh-agent")
    if not agent or not shutil.which("ssh-add"):
        raise ConfigError(f"--ssh {sid}=KEY needs ssh-agent and ssh-add (apt-get install openssh-client)")
    scratch = store.scratch_dir("ssh")
    os.chmod(scratch, 0o700)
    sock = str(scratch / "agent")
    proc = subprocess.Popen([agent, "-a", sock, "sh", "-c", 'echo "$SSH_AGENT_PID"; exec cat >/dev/null'],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    agent_pid = 0
    try:
        deadline = time.monotonic() + 10
        while not agent_pid or not _is_socket(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"--ssh {sid}: ssh-agent did not start")
            if not agent_pid and select.select([proc.stdout], [], [], 0.05)[0]:
                agent_pid = int(proc.stdout.readline().strip() or 0)
            elif agent_pid:
                time.sleep(0.02)
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_ASKPASS", "DISPLAY")}
        env.update(SSH_AUTH_SOCK=sock, SSH_ASKPASS_REQUIRE="never")
        add = subprocess.run(["ssh-add", "-q", *keys], env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=30)
        if add.returncode != 0:
            detail = (add.stderr.strip().splitlines() or ["failed"])[-1]
            raise ConfigError(f"--ssh {sid}: ssh-add could not load the key ({detail}; "
                              "a key with a passphrase needs an agent of yours: --ssh ID=SOCKET)")
        yield sock
    finally:
        if agent_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent_pid, signal.SIGTERM)
        proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        remove_tree(scratch)


@contextlib.contextmanager
def relay(agent: str, path: Path, uid: int, gid: int, mode: int) -> Iterator[str]:
    """A socket at ``path`` (uid, gid, mode) passing each connection through to ``agent``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    os.chmod(path, mode)
    listener.listen(16)
    listener.setblocking(False)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def pump(a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while not stop.is_set():
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            a.close()
            b.close()

    def serve() -> None:
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        while not stop.is_set():
            if not sel.select(0.2):
                continue
            with contextlib.suppress(BlockingIOError, InterruptedError):
                client, _ = listener.accept()
                client.setblocking(True)
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(agent)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                conns.extend((client, upstream))
                threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        sel.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield str(path)
    finally:
        stop.set()
        server.join(5)
        listener.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
