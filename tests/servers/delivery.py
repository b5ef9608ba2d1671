"""Real servers for the export-method and connector tests: a webhook receiver
(``webhook_receiver.py``) and librdkafka's mock Kafka cluster (``kafka_broker.py``), each its
own process on 127.0.0.1, plus a TCP listener that never answers."""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .process import ServerProcess, start_announcing

HERE = Path(__file__).resolve().parent


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


def start_receiver(folder: str) -> tuple[ServerProcess, str]:
    """The webhook receiver, keeping request bodies in ``folder``; (server, its base URL)."""
    return start_announcing("receiver", [sys.executable, str(HERE / "webhook_receiver.py"), folder], "URL")


def start_kafka(rtt_ms: int = 0) -> tuple[ServerProcess, str]:
    """A mock Kafka cluster answering after ``rtt_ms``; (server, bootstrap.servers)."""
    return start_announcing("kafka", [sys.executable, str(HERE / "kafka_broker.py"), "broker", str(rtt_ms)], "BOOTSTRAP")


def consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Messages of ``topic`` read back by a consumer in another process (N expected; any
    extra within a second after are returned too, so duplicates show)."""
    out = subprocess.run([sys.executable, str(HERE / "kafka_broker.py"), "consume", bootstrap, topic, str(n),
                          str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    if out.returncode:
        raise RuntimeError(f"consumer failed: {out.stderr[-2000:]}")
    return list(json.loads(out.stdout))


@contextlib.contextmanager
def blackhole_listener() -> Iterator[str]:
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
    try:
        yield f"127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join(5)
        for s in held:
            s.close()
        srv.close()
