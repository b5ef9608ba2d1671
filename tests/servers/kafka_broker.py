"""Kafka helper processes for the export-method tests (librdkafka's mock cluster, confluent-kafka).

    python kafka_broker.py broker [RTT_MS]        prints "BOOTSTRAP=127.0.0.1:PORT", serves until SIGTERM
    python kafka_broker.py consume BOOTSTRAP TOPIC N [TIMEOUT_S]
        reads N messages of TOPIC from the beginning (all partitions, no consumer group) and
        prints them as one JSON list of {"partition", "offset", "key", "value", "headers"}

The mock cluster ships inside the confluent-kafka wheel: it speaks the Kafka protocol on a real
socket, auto-creates topics (4 partitions) and acknowledges produce requests. ``RTT_MS`` adds that
round-trip delay to every broker answer (a broker that acknowledges too late).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import time


def broker(rtt_ms: int = 0) -> None:
    from confluent_kafka import Producer

    found: dict[str, str] = {}

    class _Catch(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            m = re.search(r"Mock cluster \S+ bootstrap\.servers=(\S+)", rec.getMessage())
            if m:
                found["bootstrap"] = m.group(1)

    log = logging.getLogger("mock-kafka")
    log.setLevel(logging.DEBUG)
    log.addHandler(_Catch())
    log.propagate = False
    conf: dict[str, object] = {"test.mock.num.brokers": 1, "debug": "mock", "logger": log}
    if rtt_ms:
        conf["test.mock.broker.rtt"] = rtt_ms
    holder = Producer(conf)
    deadline = time.monotonic() + 15
    while "bootstrap" not in found and time.monotonic() < deadline:
        holder.poll(0.05)
    if "bootstrap" not in found:
        sys.exit("mock cluster did not report its address")
    print(f"BOOTSTRAP={found['bootstrap']}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        holder.poll(1.0)


def consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dagstore-tests", "enable.auto.commit": False,
                  "log_level": 0})
    deadline = time.monotonic() + timeout
    md = c.list_topics(topic, timeout=timeout)
    parts = sorted(md.topics[topic].partitions) if topic in md.topics else []
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    got: list[dict[str, object]] = []
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        got.append({"partition": m.partition(), "offset": m.offset(),
                    "key": m.key().decode() if m.key() else None,
                    "value": m.value().decode(), "headers": {k: v.decode() for k, v in (m.headers() or [])}})
    # a little longer: anything beyond N would be a duplicate delivery
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append({"partition": m.partition(), "offset": m.offset(),
                        "key": m.key().decode() if m.key() else None,
                        "value": m.value().decode(), "headers": {k: v.decode() for k, v in (m.headers() or [])}})
    c.close()
    print(json.dumps(got))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "broker":
        broker(int(args[0]) if args else 0)
    elif mode == "consume":
        consume(args[0], args[1], int(args[2]), float(args[3]) if len(args) > 3 else 30.0)
    else:
        sys.exit(f"unknown mode {mode!r}")
