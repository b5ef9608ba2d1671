"""A connector (1.1) as an export method's destination: a SQL connector gets one row per sample
id appended to ``table``; a file-server or object-store connector gets one JSON file per export
under ``path``."""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

import pyarrow as pa

from ..connectors import ConnectorRegistry, FileConnector, SqlConnector
from ..errors import DagstoreError
from .errors import DeliveryError, ExportMethodError
from .spec import ExportMethod, TestResult
from .sql_export import write_table


def _connector(store: Any, method: ExportMethod) -> Any:
    return ConnectorRegistry(store).get(str(method.connector))


def send(store: Any, method: ExportMethod, delivery_id: str, body: bytes, meta: dict[str, Any]) -> int:
    """Deliver to the connector; returns 1 (one write, confirmed by the server)."""
    conn = _connector(store, method)
    sc = conn.scrubber()
    try:
        if isinstance(conn, SqlConnector):
            if not method.table:
                raise ExportMethodError(f"export method {method.name!r}: a sql connector needs table=")
            _rows(conn, sc, method, delivery_id, meta)
        elif isinstance(conn, FileConnector):
            _file(conn, sc, method, delivery_id, body, meta)
        else:
            raise ExportMethodError(f"export method {method.name!r}: connector {conn.name!r} ({conn.type}) "
                                    "cannot be a destination; use a post or kafka method")
    except DagstoreError as exc:
        raise DeliveryError(sc.clean(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - a server error becomes one clean line
        raise DeliveryError(sc.clean(f"connector {conn.name!r}: {type(exc).__name__}: {exc}")) from None
    return 1


def _rows(conn: Any, sc: Any, method: ExportMethod, delivery_id: str, meta: dict[str, Any]) -> None:
    rec = meta["record"]
    ids = meta["ids"] or [None]
    n = len(ids)
    ann = json.dumps(meta["annotation"]) if meta["annotation"] is not None else None
    table = pa.table({
        "delivery_id": [delivery_id] * n, "type": [meta["kind"]] * n, "name": [meta["name"]] * n,
        "dataset_id": [rec.id] * n, "dataset_name": [rec.name] * n, "dataset_version": [rec.version] * n,
        "sample_id": pa.array(ids, pa.string()), "annotation": pa.array([ann] * n, pa.string()),
    })
    with conn.engine(sc) as eng:
        write_table(eng, iter(table.to_batches()), table.schema, str(method.table), schema=method.schema, mode="append")


def _file(conn: Any, sc: Any, method: ExportMethod, delivery_id: str, body: bytes, meta: dict[str, Any]) -> None:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", meta["name"]).strip("._") or meta["kind"]
    folder = conn.join(method.path or "/")
    target = posixpath.join(folder, f"{stem}-{delivery_id}.json")
    with conn.filesystem(sc) as (fs, _root):
        fs.makedirs(folder, exist_ok=True)
        fs.pipe_file(target, body)
        if fs.size(target) != len(body):
            raise DeliveryError(f"{target}: the server kept {fs.size(target)} of {len(body)} bytes")


def test(store: Any, method: ExportMethod) -> TestResult:
    try:
        res = _connector(store, method).test()
    except DagstoreError as exc:
        return TestResult(False, str(exc))
    return TestResult(res.ok, res.message)
