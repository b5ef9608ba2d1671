"""The process helpers every test server uses: a free port, start, wait until ready, stop.

A server is a child process on 127.0.0.1 with its own temp folder (its log and data), stopped
by its own PID (never by name): SIGTERM (or the server's own stop signal), SIGKILL after 10 s,
then its leftover children (sshd keeps serving open clients) and its folder. A server that does
not get ready raises ServerStartError carrying its log tail, so its tests error, never skip.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT = float(os.environ.get("DAGSTORE_TEST_SERVER_TIMEOUT", "60"))


class ServerStartError(RuntimeError):
    """A test server could not start; the message carries its log tail."""


def free_port() -> int:
    """A free loopback port (a tiny race until the server binds it; `start` retries port races)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CLOSED: list[socket.socket] = []  # held for the whole session: no one else can take these ports


def closed_port() -> int:
    """A loopback port nothing listens on: a server that is down. The port stays bound (never
    listening) by this process, so a connection to it is refused every time: a released port
    could be taken meanwhile by another server, or be the kernel's pick as the local port of a
    connection to itself (a TCP self-connect)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _CLOSED.append(s)
    return int(s.getsockname()[1])


def need(path: str | None, what: str) -> str:
    """``path`` if it exists, else ServerStartError telling how to install ``what``."""
    if not path or not os.path.exists(path):
        raise ServerStartError(f"{what} not found: run `./dev test` (it installs the test servers)")
    return path


def new_folder(name: str) -> str:
    """A fresh temp folder for one server (not pytest's tmp_path: a demoted server must enter it)."""
    return tempfile.mkdtemp(prefix=f"dagstore-{name}-")


def wait_until(cond: Callable[[], Any], timeout: float, interval: float = 0.002, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Send ``sig`` to this process's PID, SIGKILL it after ``grace`` seconds, reap it, and
    SIGTERM the children it leaves (per-connection server processes)."""
    if proc.poll() is not None:
        return
    kids = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="],
                          capture_output=True, text=True).stdout.split()
    proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in kids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGTERM)


@dataclass
class ServerProcess:
    """A running server: its process, its temp folder (log and data), and what clients need
    to reach it (``info``: host, port, user names, the random password, ...)."""

    name: str
    proc: subprocess.Popen[Any]
    base: str
    stop_signal: int = signal.SIGTERM
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return Path(self.base) / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's combined stdout/stderr."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server by its PID and remove its folder."""
        stop_process(self.proc, self.stop_signal)
        shutil.rmtree(self.base, ignore_errors=True)


def start(name: str, cmd: list[str], ready: Callable[[], bool], base: str | None = None,
          stop_signal: int = signal.SIGTERM, **popen_kw: Any) -> ServerProcess:
    """Start ``cmd`` (output to ``<base>/server.log``) and poll ``ready()`` every 50 ms until it
    is true (an exception counts as not yet); ServerStartError with the log tail when the server
    exits or is not ready after START_TIMEOUT. The server is also stopped at interpreter exit."""
    base = base or new_folder(name)
    try:
        with open(os.path.join(base, "server.log"), "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **popen_kw)
    except OSError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise ServerStartError(f"{name}: cannot start {cmd[0]}: {exc}") from None
    srv = ServerProcess(name, proc, base, stop_signal)
    atexit.register(srv.stop)        # also stops it if the session dies before teardown
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None:
        with contextlib.suppress(Exception):
            if ready():
                return srv
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    state = f"exited rc={proc.returncode}" if proc.poll() is not None else f"not ready after {START_TIMEOUT:.0f}s"
    msg = f"{name} server {state}: {' '.join(cmd)}\n--- last log lines ---\n{srv.log_tail()}"
    srv.stop()
    sys.stderr.write(msg + "\n")
    raise ServerStartError(msg)


def start_on_free_port(name: str, build: Callable[[int], tuple[list[str], Callable[[], bool], dict[str, str]]],
                       attempts: int = 3, **popen_kw: Any) -> tuple[ServerProcess, int]:
    """``start`` a server on a free port: build(port) -> (cmd, ready, extra env); retried on
    another port when the server reports its port in use (the free_port race)."""
    for attempt in range(attempts):
        port = free_port()
        cmd, ready, env = build(port)
        try:
            return start(name, cmd, ready, env={**os.environ, **env}, **popen_kw), port
        except ServerStartError as exc:
            if attempt + 1 == attempts or not any(m in str(exc).lower() for m in ("in use", "eaddrinuse")):
                raise
    raise AssertionError("unreachable")


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else ""


def start_announcing(name: str, cmd: list[str], key: str, timeout: float = 30.0) -> tuple[ServerProcess, str]:
    """Start a helper server that binds its own port and prints ``KEY=value`` as its first
    stdout line (the receiver's URL, the mock Kafka cluster's bootstrap address); (server, value)."""
    base = new_folder(name)
    with open(os.path.join(base, "server.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    srv = ServerProcess(name, proc, base)
    atexit.register(srv.stop)
    line = _first_line(proc, timeout)
    if not line.startswith(key + "="):
        msg = f"{name} did not start: {line!r}\n--- last log lines ---\n{srv.log_tail()}"
        srv.stop()
        raise ServerStartError(msg)
    return srv, line.strip().split("=", 1)[1]
