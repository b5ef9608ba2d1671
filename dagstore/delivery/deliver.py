"""Sending selections and annotations through export methods, recording every delivery."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..errors import DagstoreError
from ..secrets import Scrubber
from . import kafka, payload, post
from .connector_sink import send as send_connector
from .deliveries import Delivery, new_id, record, started
from .errors import DeliveryError, SelectionError
from .methods import ExportMethods, payload_origin
from .spec import ExportMethod
from .store_id import store_id

log = logging.getLogger(__name__)


def _send(method: ExportMethod, sc: Scrubber, delivery_id: str, bodies: Callable[[int], Sequence[Any]], store: Any,
          meta: dict[str, Any]) -> tuple[int, int]:
    """Deliver; returns (attempts or messages acknowledged, parts). ``bodies(0)`` is the whole
    Payload; ``bodies(limit)`` the messages of at most ``limit`` bytes. Secrets are resolved
    through ``sc``."""
    if method.type == "post":
        body = bodies(0)[0]
        out = post.post(method.resolved_url(sc), body, method.resolved_headers(sc), idempotency_key=delivery_id,
                        credentials=method.has_credentials, timeout=method.timeout, retries=method.retries,
                        total=method.total_timeout)
        return out.attempts, 1
    if method.type == "kafka":
        limit = method.max_message_bytes or kafka.MAX_MESSAGE_BYTES
        # a split selection comes as bytes already; a whole payload (an annotation) as a Payload
        messages = [m if isinstance(m, bytes) else m.bytes() for m in (bodies(limit) if method.split else bodies(0)[:1])]
        acked = kafka.produce(str(method.bootstrap_servers), str(method.topic), messages, key=delivery_id.encode(),
                              headers={"Idempotency-Key": delivery_id, "content-type": "application/json"},
                              timeout=method.timeout, max_message_bytes=limit, options=method.resolved_options(sc))
        return acked, len(messages)
    return send_connector(store, method, delivery_id, bodies(0)[0].bytes(), meta), 1


def _deliver(store: Any, kind: str, method_name: str, rec: Any, name: str, count: Callable[[], int],
             build: Callable[[ExportMethod], Callable[[int], Sequence[Any]]], meta: dict[str, Any]) -> Delivery:
    when, t0 = started()
    did = new_id()
    method: ExportMethod | None = None
    attempts, parts = 0, 1
    failure: DagstoreError | None = None
    sc = Scrubber(f"export method {method_name!r}")
    try:
        method = ExportMethods(store).get(method_name)
        attempts, parts = _send(method, sc, did, build(method), store, meta)
        error, status = None, "delivered"
    except DagstoreError as exc:
        failure, error, status = exc, sc.clean(str(exc)), "failed"
        attempts = getattr(exc, "attempts", attempts)
    except Exception as exc:  # whatever fails, the attempt is recorded (then reported as a DeliveryError)
        error, status = sc.clean(f"{type(exc).__name__}: {' '.join(str(exc).split())}"), "failed"
    delivery = record(store, Delivery(
        id=did, kind=kind, method=method_name, method_type=method.type if method else "", target=method.destination if method else "",
        dataset_id=rec.id, name=name, count=count(), status=status, attempts=attempts, error=error, time=when,
        duration=round(time.monotonic() - t0, 3), parts=parts))
    if error is not None:
        log.info("%s %r of %s to %s failed: %s", kind, name, rec.id, method_name, error)
        if failure is not None and not isinstance(failure, DeliveryError):  # refused before sending: keep its type
            failure.delivery = delivery  # type: ignore[attr-defined]
            raise failure
        raise DeliveryError(f"{kind} {name!r} to export method {method_name!r} failed: {error}", delivery)
    log.info("%s %r of %s delivered to %s (%d ids)", kind, name, rec.id, method_name, delivery.count)
    return delivery


def _head(store: Any, rec: Any, kind: str, name: str, method: ExportMethod) -> dict[str, Any]:
    return payload.envelope(kind, project=rec.project, provider_id=store_id(store), dataset_id=rec.id,
                            dataset_name=rec.name, dataset_version=rec.version, name=name, origin=payload_origin(method))


def checked_ids(sample_ids: Sequence[str] | str, known: Collection[str], version_id: str) -> list[str]:
    """The ids as given (in order); SelectionError when any is not in the version."""
    if isinstance(sample_ids, str):
        sample_ids = [sample_ids]
    ids = sample_ids if isinstance(sample_ids, list) else list(sample_ids)
    if not ids:
        raise SelectionError("the selection is empty: give sample ids (dataset paths) or filters that match")
    paths = known if isinstance(known, (set, frozenset)) else frozenset(known)
    try:
        complete = paths.issuperset(ids)  # C-level: a million ids in a few ms
    except TypeError:  # an unhashable id
        complete = False
    if not complete:
        missing = [i for i in ids if not isinstance(i, str) or i not in paths]
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SelectionError(f"{len(missing)} sample id(s) are not in version {version_id}: {shown}")
    return ids


def export_selection(store: Any, rec: Any, selection_name: str, sample_ids: Sequence[str] | str, export_method: str,
                     known: Callable[[], Collection[str]], annotation: Any = None) -> Delivery:
    """Send ``sample_ids`` of version ``rec`` (checked against ``known()``, its dataset paths,
    before anything is sent) as a selection; the recorded Delivery, or DeliveryError after
    recording a failure."""
    ids: list[str] = []

    def build(method: ExportMethod) -> Callable[[int], Sequence[Any]]:
        ids[:] = checked_ids(sample_ids, known(), rec.id)

        def bodies(max_bytes: int) -> Sequence[Any]:
            head = _head(store, rec, "selection", selection_name, method)
            encoded = payload.encode_ids(ids)
            if max_bytes:
                return payload.split_selection(head, encoded, len(ids), annotation, max_bytes)
            return [payload.selection(head, encoded, len(ids), annotation)]
        return bodies

    meta: dict[str, Any] = {"kind": "selection", "name": selection_name, "ids": ids, "annotation": annotation, "record": rec}
    given = 1 if isinstance(sample_ids, str) else len(sample_ids)
    return _deliver(store, "selection", export_method, rec, selection_name, lambda: len(ids) or given, build, meta)


def export_annotation(store: Any, rec: Any, annotation_name: str, annotation: Any, export_method: str) -> Delivery:
    """Send one annotation (free-form JSON) of version ``rec``."""
    def build(method: ExportMethod) -> Callable[[int], Sequence[Any]]:
        return lambda _max: [payload.annotation(_head(store, rec, "annotation", annotation_name, method), annotation)]

    meta = {"kind": "annotation", "name": annotation_name, "ids": [], "annotation": annotation, "record": rec}
    return _deliver(store, "annotation", export_method, rec, annotation_name, lambda: 0, build, meta)
