"""Session fixtures for the export-method tests: a webhook receiver and librdkafka's mock Kafka
cluster, each a real process on 127.0.0.1, started once and stopped by its own PID. A server
that cannot start makes its tests error (never skip).

    from targets_servers import receiver, webhook, kafka, kafka_slow, blackhole, consume  # noqa: F401
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


class ServerStartError(RuntimeError):
    pass


@contextlib.contextmanager
def _process(cmd: list[str], prefix: str, timeout: float = 30.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run cmd, wait for its first stdout line ``KEY=value``, yield (proc, value); stop it after."""
    log = tempfile.NamedTemporaryFile(prefix="dagstore-targets-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = _readline(proc, timeout)
        if not line.startswith(prefix + "="):
            log.flush()
            raise ServerStartError(f"{cmd[1]} did not start: {line!r}; log: {Path(log.name).read_text()[-2000:]}")
        yield proc, line.strip().split("=", 1)[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else ""


# ---------------------------------------------------------------- webhook receiver
class ReceiverClient:
    """Talks to the receiver process: what it got, and what it answers next."""

    def __init__(self, url: str):
        self.url = url

    def _control(self, what: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_control/{what}", data=data,
                                     method="GET" if data is None and what == "requests" else "POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def plan(self, steps: list[Any]) -> None:
        """Answers of the next requests: statuses, "hang", "close", {"redirect": url, "status": 307}."""
        self._control("plan", steps)

    def release(self) -> None:
        self._control("release", {})

    def reset(self) -> None:
        self._control("reset", {})

    def requests(self, with_bodies: bool = True) -> list[dict[str, Any]]:
        """Every request received since the last reset, oldest first, with ``body`` bytes."""
        got = self._control("requests")
        if with_bodies:
            for r in got:
                r["body"] = Path(r["body_file"]).read_bytes()
        return got

    def delivered(self) -> list[dict[str, Any]]:
        """The requests this receiver answered with a 2xx (what it accepted)."""
        return [r for r in self.requests() if isinstance(r["answer"], int) and 200 <= r["answer"] < 300]


@pytest.fixture(scope="session")
def receiver() -> Iterator[ReceiverClient]:
    folder = tempfile.mkdtemp(prefix="dagstore-receiver-")
    try:
        with _process([sys.executable, str(HERE / "targets_receiver.py"), folder], "URL") as (_, url):
            yield ReceiverClient(url)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def webhook(receiver: ReceiverClient) -> Iterator[ReceiverClient]:
    """The session receiver, reset for this test (empty log, answers 200)."""
    receiver.reset()
    yield receiver
    receiver.reset()  # frees any hung handler


# ---------------------------------------------------------------- Kafka (librdkafka mock cluster)
def _broker(rtt_ms: int = 0) -> Iterator[str]:
    cmd = [sys.executable, str(HERE / "targets_kafka.py"), "broker", str(rtt_ms)]
    with _process(cmd, "BOOTSTRAP") as (_, bootstrap):
        yield bootstrap


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """bootstrap.servers of a mock Kafka cluster (acknowledges at once)."""
    yield from _broker()


@pytest.fixture(scope="session")
def kafka_slow() -> Iterator[str]:
    """A mock cluster whose every answer takes 60 s: produce requests are never acknowledged in time."""
    yield from _broker(60_000)


def consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Messages of ``topic`` read back by a consumer in another process (N expected; any
    extra within a second after are returned too, so duplicates show)."""
    out = subprocess.run([sys.executable, str(HERE / "targets_kafka.py"), "consume", bootstrap, topic, str(n),
                          str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    if out.returncode:
        raise RuntimeError(f"consumer failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


@pytest.fixture
def blackhole() -> Iterator[str]:
    """host:port of a TCP listener that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(srv.accept()[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(5)
    for s in held:
        s.close()
    srv.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
