"""Datasources: what to read through a connector (a SQL table or query, or a file path), and
reading it into a local folder (one ``data.parquet``/``data.csv``, or the files). A path
datasource may fix the ``separator`` and ``decimal`` mark of its CSV / TSV files (else they are
guessed, ``dagstore.tables``): its preview parses them so, and the versions it makes record them
for exporters.

Stored as records ``datasources/<name>.json`` (``core.store.named``); they name their
connector, so they carry no secret.
"""

from __future__ import annotations

import io
import os
import posixpath
import queue
import shutil
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..core import layout
from ..core.decode import expect
from ..core.store.named import NamedRecords, RecordType
from ..errors import DagstoreError, FormatError
from ..tables import sniff
from ..tables.describe import tabular_format
from ..tables.dialect import SNIFF_BYTES
from .base import TestResult, check_name, exc_line
from .errors import ConnectorError, ConnectorNotFoundError
from .files import FileConnector
from .registry import ConnectorRegistry
from .sql import SqlConnector
from .sqlread import SqlStream, open_sql, value_repr

if TYPE_CHECKING:
    from ..core.store import Store

FORMAT = 1
FILE_FORMATS = ("parquet", "csv")
PREVIEW_ROWS = 5
_WILDCARD = set("*?[")


@dataclass(frozen=True)
class Preview(TestResult):
    """A datasource test: ``ok``, ``message``, and the first rows (``columns`` as
    ``(name, type)``) or the first files (``files`` as ``(path, size)``)."""

    __test__ = False

    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Fetched:
    """What a datasource read produced in a local folder."""

    files: list[str]
    rows: int | None = None
    columns: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Datasource:
    """A table (with optional schema), a query, or a path, read through a named connector."""

    name: str
    connector: str
    table: str | None = None
    schema: str | None = None
    query: str | None = None
    path: str | None = None
    separator: str | None = None
    decimal: str | None = None

    @property
    def kind(self) -> str:
        return "table" if self.table else "query" if self.query else "path"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("name", self.name), ("connector", self.connector), ("table", self.table),
                                  ("schema", self.schema), ("query", self.query), ("path", self.path),
                                  ("separator", self.separator), ("decimal", self.decimal)) if v is not None}

    def describe(self) -> str:
        if self.table:
            return f"table {self.schema + '.' if self.schema else ''}{self.table}"
        if self.query:
            q = " ".join(self.query.split())
            return f"query {q[:60] + '...' if len(q) > 60 else q}"
        return f"path {self.path}"


def check_datasource(ds: Datasource, conn: Any) -> None:
    given = [k for k in ("table", "query", "path") if getattr(ds, k)]
    if len(given) != 1:
        raise ConnectorError(f"datasource {ds.name!r}: give exactly one of table, query or path")
    if ds.schema and not ds.table:
        raise ConnectorError(f"datasource {ds.name!r}: schema goes with table")
    if (ds.separator or ds.decimal) and not ds.path:
        raise ConnectorError(f"datasource {ds.name!r}: separator and decimal go with a path (CSV / TSV files)")
    try:
        sniff(b"", ",", ds.separator, ds.decimal)
    except FormatError as exc:
        raise ConnectorError(f"datasource {ds.name!r}: {exc}") from None
    if isinstance(conn, SqlConnector) and ds.path:
        raise ConnectorError(f"datasource {ds.name!r}: connector {conn.name!r} is sql: use table or query")
    if isinstance(conn, FileConnector) and not ds.path:
        raise ConnectorError(f"datasource {ds.name!r}: connector {conn.name!r} is {conn.type}: use path")
    if not isinstance(conn, (SqlConnector, FileConnector)):
        raise ConnectorError(f"datasource {ds.name!r}: connector {conn.name!r} ({conn.type}) cannot be read from")


def _decode(name: str, doc: dict[str, Any]) -> Datasource:
    what = f"datasource record {layout.named_key(layout.DATASOURCES, name)}"
    values = [doc.get(k) for k in ("table", "schema", "query", "path", "separator", "decimal")]
    expect(doc["name"] == name and isinstance(doc["connector"], str), what, "its name or connector is not valid")
    expect(all(v is None or isinstance(v, str) for v in values), what,
           "table, schema, query, path, separator and decimal must be text")
    return Datasource(name, doc["connector"], *values)


RECORDS: RecordType[Datasource] = RecordType(
    "datasource", layout.DATASOURCES, _decode, lambda name: check_name(name, "datasource"), known_format=FORMAT,
    missing=lambda name, url: ConnectorNotFoundError(f"no datasource named {name!r} in {url}"))


class DatasourceRegistry:
    """``Store.datasources``: create, list, get, delete and test datasources."""

    def __init__(self, store: Store):
        self.store = store
        self.connectors = ConnectorRegistry(store)
        self.records = NamedRecords(store.backend, RECORDS)

    def create(self, name: str, connector: str, table: str | None = None, schema: str | None = None,
               query: str | None = None, path: str | None = None, separator: str | None = None,
               decimal: str | None = None) -> Datasource:
        """Define a datasource on an existing connector and store it (``separator`` / ``decimal``:
        the dialect of a path's CSV / TSV files, guessed when not given)."""
        check_name(name, "datasource")
        ds = Datasource(name, connector, table, schema, query, path, separator, decimal)
        check_datasource(ds, self.connectors.get(connector))
        self.records.create(name, {"format": FORMAT, **ds.to_dict()})
        return ds

    def list(self) -> list[Datasource]:
        """Every stored datasource, by name (an unreadable one skipped with a warning)."""
        return self.records.list()

    def get(self, name: str) -> Datasource:
        return self.records.get(name)

    def delete(self, name: str) -> None:
        self.records.delete(name)

    def test(self, name: str) -> Preview:
        """Connect and preview: the first rows with column names and types, or the first files
        with sizes. Does not raise for a failing connection (``ok`` is False)."""
        ds = self.get(name)
        conn = self.connectors.get(ds.connector)
        sc = conn.scrubber()
        try:
            check_datasource(ds, conn)
            if isinstance(conn, SqlConnector):
                with open_sql(conn, sc, ds.table, ds.schema, ds.query, limit=PREVIEW_ROWS,
                              batch_rows=PREVIEW_ROWS) as opened:
                    stream = cast(SqlStream, opened)  # fast=False: always the row path
                    rows = stream.result.fetchmany(PREVIEW_ROWS)
                    stream._infer(list(zip(*rows)) if rows else [() for _ in stream.columns])
                    cols = [(c.name, str(c.type)) for c in stream.columns]
                    stream.result.close()
                return Preview(True, f"datasource {name!r}: {ds.describe()} via {conn.where()}: {len(cols)} columns",
                               columns=cols, rows=[[value_repr(v) for v in r] for r in rows])
            assert isinstance(conn, FileConnector)
            with conn.filesystem(sc) as (fs, _root):
                found = list_path(conn, fs, ds, sc)
                cols, rows, dialect = _csv_preview(fs, found[0][0], ds)
            files = [(rel, size) for _src, rel, size in found[:PREVIEW_ROWS]]
            return Preview(True, f"datasource {name!r}: {ds.describe()} via {conn.where()}: {len(found)} file(s){dialect}",
                           columns=cols, rows=rows, files=files)
        except DagstoreError as exc:  # ConnectorError, SecretError
            return Preview(False, sc.clean(str(exc)))
        except Exception as exc:
            return Preview(False, str(conn.error(sc, f"datasource {name!r}", exc)))

    def fetch(self, ds: Datasource, folder: str, file_format: str = "parquet") -> Fetched:
        """Read the datasource into ``folder`` (which must be empty). On any failure the folder
        is emptied again and a ConnectorError says what failed."""
        if file_format not in FILE_FORMATS:
            raise ConnectorError(f"file_format must be one of {', '.join(FILE_FORMATS)}, not {file_format!r}")
        conn = self.connectors.get(ds.connector)
        check_datasource(ds, conn)
        sc = conn.scrubber()
        try:
            if isinstance(conn, SqlConnector):
                return _fetch_sql(conn, sc, ds, folder, file_format)
            assert isinstance(conn, FileConnector)
            with conn.filesystem(sc) as (fs, _root):
                found = list_path(conn, fs, ds, sc)
                for src, rel, _size in found:
                    local = os.path.join(folder, *rel.split("/"))
                    os.makedirs(os.path.dirname(local), exist_ok=True)
                    try:
                        fs.get_file(src, local)
                    except Exception as exc:
                        raise conn.error(sc, f"download {src}", exc) from None
            return Fetched(sorted(rel for _s, rel, _z in found))
        except BaseException:
            _empty(folder)
            raise


def _csv_preview(fs: Any, src: str, ds: Datasource) -> tuple[list[tuple[str, str]], list[list[Any]], str]:
    """(columns, first rows, what dialect) of a CSV / TSV file, parsed in the datasource's
    dialect or the guessed one; nothing for other files."""
    fmt = tabular_format(src)
    if fmt not in ("csv", "tsv"):
        return [], [], ""
    with fs.open(src, "rb") as f:
        head = f.read(SNIFF_BYTES)
    d = sniff(head, "\t" if fmt == "tsv" else ",", ds.separator, ds.decimal)
    text = head if len(head) < SNIFF_BYTES or b"\n" not in head else head[: head.rindex(b"\n") + 1]
    try:
        t = pcsv.read_csv(io.BytesIO(text), parse_options=pcsv.ParseOptions(delimiter=d.separator),
                          convert_options=pcsv.ConvertOptions(decimal_point=d.decimal)).slice(0, PREVIEW_ROWS)
    except pa.ArrowInvalid as exc:
        raise ConnectorError(f"datasource {ds.name!r}: {src}: {' '.join(str(exc).split())}") from None
    how = "guessed" if d.guessed else "given"
    cols = [(c.name, str(c.type)) for c in t.schema]
    rows = [[value_repr(r[c]) for c, _t in cols] for r in t.to_pylist()]
    return cols, rows, f"; {fmt} separator {d.separator!r}, decimal mark {d.decimal!r} ({how})"


def _empty(folder: str) -> None:
    for entry in os.listdir(folder):
        p = os.path.join(folder, entry)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.unlink(p)


def list_path(conn: FileConnector, fs: Any, ds: Datasource, sc: Any) -> list[tuple[str, str, int]]:
    """``(remote path, relative dataset path, size)`` of the files a path datasource names: a
    file (its name), a folder (its files, relative to it) or a wildcard (relative to the folder
    before the first wildcard). A path that matches nothing is an error."""
    full = conn.join(str(ds.path))
    try:
        if _WILDCARD & set(full):
            base = full
            while _WILDCARD & set(base):
                base = posixpath.dirname(base)
            infos = fs.glob(full, detail=True)
            found = {p: i for p, i in infos.items() if i.get("type") == "file"}
            for p, i in infos.items():
                if i.get("type") == "directory":
                    found.update(fs.find(p, detail=True))
        else:
            base = full
            info = fs.info(full)
            if info.get("type") == "directory":
                found = fs.find(full, detail=True)
            else:
                base = posixpath.dirname(full)
                found = {full: info}
    except FileNotFoundError:
        raise conn.error(sc, f"read path {ds.path}", f"{full} does not exist") from None
    except DagstoreError:  # ConnectorError, SecretError
        raise
    except Exception as exc:
        raise conn.error(sc, f"read path {ds.path}", exc_line(exc)) from None
    out = []
    for p, info in sorted(found.items()):
        rel = posixpath.relpath(_rooted(p), _rooted(base))
        if rel.startswith("..") or rel in (".", ""):
            raise conn.error(sc, f"read path {ds.path}", f"{p} is outside {base}")
        out.append((p, rel, int(info.get("size") or 0)))
    if not out:
        raise conn.error(sc, f"read path {ds.path}", f"no files match {full}")
    return out


def _rooted(path: Any) -> str:
    """``path`` with exactly one leading slash (FTP/SFTP/buckets differ on it)."""
    return "/" + str(path).lstrip("/")


def _fetch_sql(conn: SqlConnector, sc: Any, ds: Datasource, folder: str, file_format: str) -> Fetched:
    """Stream the result into one file. Batches are written by a second thread (Parquet
    encoding and compression release the GIL) through a 2-slot queue: reading and writing
    overlap and at most three batches are in memory."""
    make_writer = _parquet_writer if file_format == "parquet" else _csv_writer
    path = os.path.join(folder, f"data.{file_format}")
    rows = 0
    todo: queue.Queue[Any] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def write() -> None:
        writer = None
        try:
            while (batch := todo.get()) is not None:
                if not failed:
                    writer = writer or make_writer(path, batch.schema)
                    writer.write_batch(batch)
        except BaseException as exc:  # reported by the reading thread
            failed.append(exc)
            while todo.get() is not None:
                pass
        finally:
            if writer is not None:
                writer.close()

    worker = threading.Thread(target=write, name="dagstore-datasource-writer", daemon=True)
    worker.start()
    try:
        with open_sql(conn, sc, ds.table, ds.schema, ds.query, fast=True) as stream:
            for batch in stream.batches():
                if failed:
                    break
                todo.put(batch)
                rows += batch.num_rows
            cols = [(c.name, str(c.type)) for c in stream.columns]
    finally:
        todo.put(None)
        worker.join()
    if failed:
        raise ConnectorError(f"datasource {ds.name!r}: cannot write {os.path.basename(path)}: {exc_line(failed[0])}")
    return Fetched([os.path.basename(path)], rows, cols)


def _parquet_writer(path: str, schema: Any) -> Any:
    return pq.ParquetWriter(path, schema, compression="zstd")


def _csv_writer(path: str, schema: Any) -> Any:
    return pcsv.CSVWriter(path, schema)
