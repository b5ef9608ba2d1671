"""Exporters (Prevision's): write a version's data through a connector — a tabular file into a
SQL table, or the files (or an export of them) to a file-server or object-store path — in mode
``overwrite``, ``timestamp``, ``append`` or ``safe``. Stored as records ``exporters/<name>.json``
(``core.store.named``); they name their connector, so they carry no secret. Every run is
recorded in the delivery log."""

from __future__ import annotations

import os
import posixpath
import secrets as _random
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from ..connectors import ConnectorRegistry, FileConnector, SqlConnector, TestResult
from ..core import layout
from ..core.decode import expect
from ..core.ops import checkout, lookup
from ..core.store.named import NamedRecords, RecordType, check_name
from ..core.version import Version
from ..errors import DagstoreError
from ..export.source import export_version
from .deliveries import Delivery, new_id, record, started
from .errors import DeliveryError, ExportMethodError, ExportMethodNotFoundError
from .rowfiles import ROW_FORMATS, TABULAR, find_table, version_rows, write_rows
from .sql_export import MODES, timestamp_name, write_table

@dataclass(frozen=True)
class Exporter:
    """Where a version goes: ``table`` (SQL connector) or ``path`` (file connector), and how."""

    name: str
    connector: str
    table: str | None = None
    schema: str | None = None
    path: str | None = None
    mode: str = "overwrite"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def where(self) -> str:
        if self.table:
            return f"table {self.schema + '.' if self.schema else ''}{self.table}"
        return f"path {self.path}"


def _decode(name: str, doc: dict[str, Any]) -> Exporter:
    what = f"exporter record {layout.named_key(layout.EXPORTERS, name)}"
    expect(doc["name"] == name and isinstance(doc["connector"], str), what, "its name or connector is not valid")
    expect(doc.get("mode", "overwrite") in MODES, what, f"unknown mode {doc.get('mode')!r}")
    expect(all(doc.get(k) is None or isinstance(doc[k], str) for k in ("table", "schema", "path")), what,
           "table, schema and path must be text")
    return Exporter(**doc)


RECORDS: RecordType[Exporter] = RecordType(
    "exporter", layout.EXPORTERS, _decode, lambda name: check_name(name, "exporter", ExportMethodError),
    missing=lambda name, _url: ExportMethodNotFoundError(f"no exporter named {name!r}"))


def _connectors(store: Any) -> ConnectorRegistry:
    return ConnectorRegistry(store)


def _kind(conn: Any) -> str:
    if isinstance(conn, SqlConnector):
        return "sql"
    if isinstance(conn, FileConnector):
        return "files"
    return conn.type


class Exporters:
    """``Store.exporters``: create, list, get, delete, test and run exporters."""

    def __init__(self, store: Any):
        self._store = store
        self.records = NamedRecords(store.backend, RECORDS)

    def create(self, name: str, connector: str, table: str | None = None, schema: str | None = None,
               path: str | None = None, mode: str = "overwrite") -> Exporter:
        """Store an exporter; its connector must exist and suit ``table`` (SQL) or ``path`` (files)."""
        RECORDS.check(name)
        if mode not in MODES:
            raise ExportMethodError(f"exporter {name!r}: unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if bool(table) == bool(path):
            raise ExportMethodError(f"exporter {name!r}: give a table (SQL connector) or a path (file connector)")
        if schema and not table:
            raise ExportMethodError(f"exporter {name!r}: schema goes with a table")
        if path is not None and (".." in path.replace("\\", "/").split("/") or "\x00" in path):
            raise ExportMethodError(f"exporter {name!r}: path {path!r} must stay below the connector's root (no '..')")
        kind = _kind(_connectors(self._store).get(connector))
        if table and kind != "sql":
            raise ExportMethodError(f"exporter {name!r}: connector {connector!r} is {kind}; a table needs a sql connector")
        if path and kind != "files":
            raise ExportMethodError(f"exporter {name!r}: connector {connector!r} is {kind}; a path needs a file-server "
                                    "or object-store connector")
        exp = Exporter(name, connector, table=table, schema=schema, path=path, mode=mode)
        self.records.create(name, exp.to_dict())
        return exp

    def list(self) -> list[Exporter]:
        """Every exporter, by name (an unreadable one skipped with a warning)."""
        return self.records.list()

    def get(self, name: str) -> Exporter:
        return self.records.get(name)

    def delete(self, name: str) -> None:
        self.records.delete(name)

    def test(self, name: str) -> Any:
        """The connector's test, plus whether the target exists (never raises for a failing one)."""
        exp = self.get(name)
        try:
            conn = _connectors(self._store).get(exp.connector)
        except DagstoreError as exc:
            return TestResult(False, f"exporter {name!r}: {exc}")
        new_db = _new_sqlite_file(conn, exp)
        if new_db is not None:  # as run does: SQLite creates the file (when its folder can hold it)
            return TestResult(*new_db)
        res = conn.test()
        if not res.ok:
            return TestResult(False, f"exporter {name!r}: {res.message}")
        try:
            there = _target_exists(conn, exp)
        except DagstoreError as exc:
            return TestResult(False, f"exporter {name!r}: {exc}")
        state = "exists" if there else "does not exist yet"
        return TestResult(True, f"exporter {name!r}: {res.message}; {exp.where} {state} (mode {exp.mode})")

    def run(self, name: str, dataset_id: str, dataset_path: str | None = None,
            export_format: str | None = None) -> Delivery:
        """Write the version through the exporter; the recorded Delivery (``name`` is the table
        or path written, ``count`` the rows or files), or DeliveryError after recording."""
        exp = self.get(name)
        when, t0 = started()
        did = new_id()
        rec = self._store.record(dataset_id)
        target, count, error, kind, where = "", 0, None, "", exp.where
        try:
            conn = _connectors(self._store).get(exp.connector)
            kind = _kind(conn)
            where = f"{conn.where()} {exp.where}"
            if exp.table:
                if export_format:
                    raise ExportMethodError(f"exporter {name!r} writes a table; export_format is for path exporters")
                target, count = _run_sql(self._store, conn, exp, rec.id, dataset_path)
            else:
                target, count = _run_files(self._store, conn, exp, rec.id, dataset_path, export_format)
        except DagstoreError as exc:
            error = str(exc)
        delivery = record(self._store, Delivery(
            id=did, kind="exporter", method=name, method_type=kind, target=where, dataset_id=rec.id,
            name=target, count=count, status="failed" if error else "delivered", attempts=1, error=error,
            time=when, duration=round(time.monotonic() - t0, 3)))
        if error:
            raise DeliveryError(f"exporter {name!r} run of {rec.id} failed: {error}", delivery)
        return delivery


# ---------------------------------------------------------------- SQL
def _new_sqlite_file(conn: Any, exp: Exporter) -> tuple[bool, str] | None:
    """For a table exporter whose SQLite database file does not exist yet: (ok, message),
    ok when its folder exists and is writable, since ``run`` then creates it. Else None."""
    db = conn.missing_sqlite_file(conn.scrubber()) if exp.table and hasattr(conn, "missing_sqlite_file") else None
    if db is None:
        return None
    folder = os.path.dirname(os.path.abspath(db))
    if os.path.isdir(folder) and os.access(folder, os.W_OK):
        return True, f"exporter {exp.name!r}: database file {db} does not exist yet; run creates it ({exp.where}, mode {exp.mode})"
    return False, f"exporter {exp.name!r}: database file {db} cannot be created: folder {folder} is missing or not writable"


def _target_exists(conn: Any, exp: Exporter) -> bool:
    sc = conn.scrubber()
    if exp.table:
        import sqlalchemy as sa

        with conn.engine(sc) as eng, eng.connect() as c:
            return bool(sa.inspect(c).has_table(exp.table, schema=exp.schema))
    with conn.filesystem(sc) as (fs, _root):
        return bool(fs.exists(conn.join(exp.path)))


def _local_copy(store: Any, version_id: str, files: list[str] | None) -> str:
    """A cached local folder of the version (or of ``files``)."""
    return checkout.local_copy(Version(store, store.record(version_id)), None, None, None, None, files, False)


def _run_sql(store: Any, conn: Any, exp: Exporter, version_id: str, dataset_path: str | None) -> tuple[str, int]:
    """The version's rows (a tabular version's with labels and split) into the table."""
    scratch = tempfile.mkdtemp(prefix="dagstore-exporter-")
    sc = conn.scrubber()
    try:
        _stem, schema, batches = version_rows(store, version_id, dataset_path, scratch)
        with conn.engine(sc) as eng:
            return write_table(eng, batches, schema, str(exp.table), schema=exp.schema, mode=exp.mode)
    except DagstoreError as exc:
        raise type(exc)(sc.clean(str(exc))) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _has_rows(paths: list[str], dataset_path: str | None) -> bool:
    """Whether a row format writes the version's rows: a tabular version, a tabular file named
    by ``dataset_path``, or a version holding tabular files (else the format's export of its files)."""
    return dataset_path is not None or find_table(paths) is not None or any(p.lower().endswith(TABULAR) for p in paths)


# ---------------------------------------------------------------- files
def _run_files(store: Any, conn: Any, exp: Exporter, version_id: str, dataset_path: str | None,
               export_format: str | None) -> tuple[str, int]:
    paths = sorted(store.state(version_id))
    fmt = (export_format or "").lower()
    scratch = tempfile.mkdtemp(prefix="dagstore-exporter-")
    sc = conn.scrubber()
    try:
        if fmt in ROW_FORMATS and _has_rows(paths, dataset_path):
            stem, schema, batches = version_rows(store, version_id, dataset_path, scratch)
            local_root = os.path.join(scratch, "out")
            os.mkdir(local_root)
            files = [write_rows(fmt, schema, batches, local_root, stem)]
        elif export_format:
            local_root, files = _export_folder(store, version_id, export_format, scratch)
        else:
            files = _paths_under(paths, dataset_path, version_id)
            local_root = _local_copy(store, version_id, files if dataset_path else None)
        with conn.filesystem(sc) as (fs, _root):
            return _write_files(fs, conn.join(str(exp.path)), exp.mode, local_root, files)
    except DagstoreError as exc:
        raise type(exc)(sc.clean(str(exc))) from None
    except Exception as exc:  # noqa: BLE001 - any filesystem error becomes one clean line
        raise DeliveryError(sc.clean(f"writing {exp.path} through connector {conn.name!r} failed: "
                                     f"{type(exc).__name__}: {exc}")) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _paths_under(paths: list[str], dataset_path: str | None, version_id: str) -> list[str]:
    """The version's paths under ``dataset_path`` (all without one); nothing there is an error."""
    if not dataset_path:
        return paths
    prefix = dataset_path.strip("/")
    found = [p for p in paths if p == prefix or p.startswith(prefix + "/")]
    if not found:
        raise ExportMethodError(f"version {version_id} has nothing under {dataset_path!r}")
    return found


def _export_folder(store: Any, version_id: str, export_format: str, scratch: str) -> tuple[str, list[str]]:
    """An export of the version in ``export_format`` (dagstore.export) in ``scratch``."""
    out = os.path.join(scratch, "export")
    export_version(lookup.get(store, version_id), export_format, out)
    files = sorted(os.path.relpath(os.path.join(d, f), out).replace(os.sep, "/") for d, _, fs in os.walk(out) for f in fs)
    return out, files


def _write_files(fs: Any, base: str, mode: str, local_root: str, files: list[str]) -> tuple[str, int]:
    base = base.rstrip("/") or "/"
    if base == "/":
        raise ExportMethodError("an exporter path must name a folder below the connector's root")
    if mode == "safe" and fs.exists(base):
        raise ExportMethodError(f"{base} exists (mode safe)")
    if mode == "timestamp":
        now, n = datetime.now(timezone.utc), 1
        target = timestamp_name(base, now, 1, 4096)
        while fs.exists(target):
            n += 1
            target = timestamp_name(base, now, n, 4096)
    else:
        target = base
    dest = f"{base}.dagstore-tmp-{_random.token_hex(4)}" if mode == "overwrite" else target
    try:
        _put_all(fs, local_root, files, dest)
        if mode == "overwrite":
            if fs.exists(base):
                fs.rm(base, recursive=True)
            _move(fs, dest, base, files)
    except BaseException:
        if mode == "overwrite" and fs.exists(dest):
            fs.rm(dest, recursive=True)
        raise
    return target, len(files)


def _under(fs: Any, dest: str, files: list[str]) -> Iterator[tuple[str, str]]:
    """``(rel, dest/rel)`` for each file, its folder made first (once per folder)."""
    made: set[str] = set()
    for rel in files:
        target = posixpath.join(dest, rel)
        folder = posixpath.dirname(target)
        if folder not in made:
            fs.makedirs(folder, exist_ok=True)
            made.add(folder)
        yield rel, target


def _move(fs: Any, src: str, dst: str, files: list[str]) -> None:
    """Move the uploaded files from ``src`` to ``dst`` one by one (a rename on file servers,
    copy + delete on object stores), then remove ``src``."""
    for rel, target in _under(fs, dst, files):
        fs.mv(posixpath.join(src, rel), target)
    if fs.exists(src):
        fs.rm(src, recursive=True)


def _put_all(fs: Any, local_root: str, files: list[str], dest: str) -> None:
    for rel, remote in _under(fs, dest, files):
        fs.put_file(os.path.join(local_root, *rel.split("/")), remote)
