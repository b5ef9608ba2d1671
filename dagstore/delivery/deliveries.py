"""The delivery log: one record per selection, annotation or exporter run, kept in the store
(records ``deliveries/<time>-<id>.json``, written once) — no payload, no secret."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from ..core import layout
from ..core.decode import expect
from ..core.store.named import NamedRecords, RecordType
from ..errors import DagstoreError


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


def _decode(name: str, doc: dict[str, Any]) -> Delivery:
    what = f"delivery record {layout.named_key(layout.DELIVERIES, name)}"
    d = Delivery.from_dict(doc)
    expect(name.endswith(f"-{d.id}") and isinstance(d.time, str), what, "its id or time is not valid")
    return d


def _check(name: str) -> str:
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise DagstoreError(f"invalid delivery name {name!r}")
    return name


RECORDS: RecordType[Delivery] = RecordType(
    "delivery", layout.DELIVERIES, _decode, _check, missing=lambda name, url: DagstoreError(
        f"no delivery {name!r} in {url}"))


def new_id() -> str:
    """A delivery's id, also its ``Idempotency-Key``."""
    return uuid.uuid4().hex


def started() -> tuple[str, float]:
    """(ISO time, monotonic start) of a delivery. To the microsecond: the time names the record
    and so orders the log, and deliveries made one after another within a millisecond would tie."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds"), time.monotonic()


def record(store: Any, delivery: Delivery) -> Delivery:
    """Append a delivery to the store's log."""
    stamp = datetime.fromisoformat(delivery.time).strftime("%Y%m%dT%H%M%S%f")
    NamedRecords(store.backend, RECORDS).create(f"{stamp}-{delivery.id}", delivery.to_dict())
    return delivery


def list_deliveries(store: Any, method: str | None = None, dataset_id: str | None = None,
                    status: str | None = None, limit: int | None = None) -> list[Delivery]:
    """Recorded deliveries, newest first, filtered by method/exporter name, version and status."""
    records = NamedRecords(store.backend, RECORDS)
    out: list[Delivery] = []
    for d in records.iter(records.keys()[::-1], batch=64 if limit else 0):
        if (method is None or d.method == method) and (dataset_id is None or d.dataset_id == dataset_id) \
                and (status is None or d.status == status):
            out.append(d)
            if limit is not None and len(out) >= limit:
                break
    return out
