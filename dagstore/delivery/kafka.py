"""Kafka delivery with confluent-kafka: ``acks=all`` and an idempotent producer; the call
returns only when the broker acknowledged every message, or raises within the timeout."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from .errors import DeliveryError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # librdkafka's connection chatter never reaches stderr by itself

TIMEOUT = 30.0
MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB
_WINDOW = 4  # parts in flight at once
_OVERHEAD = 64 << 10  # librdkafka counts its framing in message.max.bytes
_OPTION_KEYS = {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanism",
                "sasl_username": "sasl.username", "sasl_password": "sasl.password"}


class KafkaDeliveryError(DeliveryError):
    def __init__(self, message: str, acknowledged: int):
        super().__init__(message)
        self.attempts = acknowledged


def _conf(bootstrap: str, timeout: float, max_bytes: int, options: dict[str, str]) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "message.timeout.ms": max(1, int(timeout * 1000)),
        "message.max.bytes": max_bytes + _OVERHEAD,
        "socket.timeout.ms": max(10, int(min(timeout, 60) * 1000)),
        "logger": log,
    }
    conf.update({_OPTION_KEYS[k]: v for k, v in options.items()})
    return conf


def produce(bootstrap: str, topic: str, messages: Sequence[bytes], *, key: bytes, headers: dict[str, str],
            timeout: float | None = None, max_message_bytes: int | None = None,
            options: dict[str, str] | None = None) -> int:
    """Send ``messages`` (in order, one key so one partition) and wait for every
    acknowledgement; returns how many were acknowledged, or KafkaDeliveryError."""
    from confluent_kafka import KafkaException, Producer

    timeout = timeout or TIMEOUT
    max_bytes = max_message_bytes or MAX_MESSAGE_BYTES
    where = f"kafka://{bootstrap}/{topic}"
    errors: list[str] = []
    acked = sent = 0

    def report(err: Any, _msg: Any) -> None:
        nonlocal acked
        if err is None:
            acked += 1
        else:
            errors.append(err.str() if hasattr(err, "str") else str(err))

    producer = Producer(_conf(bootstrap, timeout, max_bytes, options or {}))
    hdrs: list[tuple[str, str | bytes | None]] = [(k, v.encode()) for k, v in headers.items()]
    deadline = time.monotonic() + timeout + 5
    try:
        for m in messages:
            if len(m) > max_bytes:
                raise KafkaDeliveryError(f"a message of {len(m)} bytes is over the limit of {max_bytes} bytes", acked)
            while True:
                try:
                    producer.produce(topic, value=m, key=key, headers=hdrs, on_delivery=report)
                    sent += 1
                    break
                except BufferError:  # local queue full: serve delivery reports and retry
                    producer.poll(0.1)
                    if time.monotonic() > deadline:
                        raise KafkaDeliveryError(f"{where}: local queue stayed full for {timeout:g} s", acked) from None
            while sent - acked - len(errors) >= _WINDOW and time.monotonic() < deadline:
                producer.poll(0.05)  # a few parts in flight: memory stays a few MiB whatever the size
            if errors:
                break
        left = producer.flush(max(0.0, deadline - time.monotonic()))
    except KafkaException as exc:
        raise KafkaDeliveryError(f"{where}: {exc.args[0].str() if exc.args else exc}", acked) from None
    if errors:
        raise KafkaDeliveryError(f"{where}: {errors[0]} ({acked} of {len(messages)} messages acknowledged)", acked)
    if left or acked < len(messages):
        raise KafkaDeliveryError(f"{where}: no acknowledgement within {timeout:g} s "
                                 f"({acked} of {len(messages)} messages acknowledged)", acked)
    return acked


def metadata(bootstrap: str, topic: str, timeout: float, options: dict[str, str]) -> str:
    """One line about the cluster (a metadata request); raises KafkaException when unreachable."""
    from confluent_kafka import Producer

    producer = Producer(_conf(bootstrap, timeout, MAX_MESSAGE_BYTES, options))
    md = producer.list_topics(timeout=timeout)
    return f"{len(md.brokers)} broker(s) answered; topic {topic} " + ("exists" if topic in md.topics else "will be created on first send")
