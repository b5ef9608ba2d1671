"""The delivery log: one record per selection, annotation or exporter run, kept in the store
(``deliveries/<time>-<id>.json``, written once) — no payload, no secret."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

PREFIX = "deliveries"


@dataclass(frozen=True)
class Delivery:
    """What was sent where and whether the destination confirmed it.

    ``kind`` is ``selection``, ``annotation`` or ``exporter``; ``method`` the export method or
    exporter name; ``status`` ``delivered`` or ``failed``; ``attempts`` the requests made (HTTP)
    or messages acknowledged (Kafka parts); ``target`` the destination with secrets redacted."""

    id: str
    kind: str
    method: str
    method_type: str
    target: str
    dataset_id: str
    name: str
    count: int
    status: str
    attempts: int
    error: str | None
    time: str
    duration: float
    parts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def ok(self) -> bool:
        return self.status == "delivered"


def new_id() -> str:
    """A delivery's id, also its ``Idempotency-Key``."""
    return uuid.uuid4().hex


def started() -> tuple[str, float]:
    """(ISO time, monotonic start) of a delivery."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds"), time.monotonic()


def record(store: Any, delivery: Delivery) -> Delivery:
    """Append a delivery to the store's log."""
    stamp = datetime.fromisoformat(delivery.time).strftime("%Y%m%dT%H%M%S%f")
    store.backend.write(f"{PREFIX}/{stamp}-{delivery.id}.json", json.dumps(delivery.to_dict()).encode())
    return delivery


def list_deliveries(store: Any, method: str | None = None, dataset_id: str | None = None,
                    status: str | None = None, limit: int | None = None) -> list[Delivery]:
    """Recorded deliveries, newest first, filtered by method/exporter name, version and status."""
    be = store.backend
    keys = sorted(be.list(PREFIX), reverse=True)
    out: list[Delivery] = []
    batch = 64 if limit else len(keys) or 1
    for i in range(0, len(keys), batch):
        chunk = keys[i:i + batch]
        got = be.read_many(chunk)
        for k in chunk:
            if k not in got:
                continue
            d = Delivery.from_dict(json.loads(got[k]))
            if (method is None or d.method == method) and (dataset_id is None or d.dataset_id == dataset_id) \
                    and (status is None or d.status == status):
                out.append(d)
                if limit is not None and len(out) >= limit:
                    return out
    return out
