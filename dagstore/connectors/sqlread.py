"""Streaming a SQL table or query into Arrow record batches, with the column types kept.

Rows come through a server-side cursor in batches of ``BATCH_ROWS`` (bounded memory whatever
the row count), inside a read-only transaction where the database allows it. Column types come
from the table's reflected SQLAlchemy types, or for a query from the driver's result
description (PostgreSQL OIDs, MySQL field types); what neither tells (SQLite queries) is
inferred from the first batch.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from ._extras import need
from .errors import ConnectorError
from .sql import SqlConnector, run_sql, set_read_only
from ..secrets import Scrubber

BATCH_ROWS = 50_000
Converter = Callable[[Any], Any] | None


@dataclass
class Column:
    name: str
    type: Any  # a pyarrow DataType, or None until inferred
    convert: Converter = None


def _json(v: Any) -> Any:
    return v if v is None or isinstance(v, str) else json.dumps(v, default=str)


def _text(v: Any) -> Any:
    return v if v is None or isinstance(v, str) else str(v)


def _decimal(precision: int | None, scale: int | None) -> tuple[Any, Converter]:
    if precision is None or precision <= 0 or scale is None or scale < 0:
        return pa.string(), _text  # unconstrained NUMERIC: kept exactly, as text
    if precision <= 38:
        return pa.decimal128(precision, scale), None
    return (pa.decimal256(precision, scale), None) if precision <= 76 else (pa.string(), _text)


def arrow_type(t: Any, dialect: str) -> tuple[Any, Converter]:  # noqa: C901 - one branch per SQL type family; a flat table of the type mapping reads best in one place
    """(pyarrow type, per-value converter or None) for a SQLAlchemy column type."""
    import sqlalchemy.types as st

    if isinstance(t, st.Boolean):
        return pa.bool_(), None
    if isinstance(t, st.Integer):
        if dialect == "sqlite":
            return pa.int64(), None
        unsigned = bool(getattr(t, "unsigned", False))
        if isinstance(t, st.BigInteger):
            return (pa.uint64() if unsigned else pa.int64()), None
        if isinstance(t, st.SmallInteger):
            return (pa.int32() if unsigned else pa.int16()), None
        return (pa.int64() if unsigned else pa.int32()), None
    if isinstance(t, st.Float):
        return (pa.float32() if isinstance(t, st.REAL) and dialect != "sqlite" else pa.float64()), None
    if isinstance(t, st.Numeric):
        return _decimal(t.precision, t.scale)
    if isinstance(t, st.DateTime):
        return pa.timestamp("us", tz="UTC" if t.timezone else None), None
    if isinstance(t, st.Date):
        return pa.date32(), None
    if isinstance(t, st.Time):
        return pa.time64("us"), None
    if isinstance(t, st.Interval):
        return pa.duration("us"), None
    if isinstance(t, st._Binary):
        return pa.binary(), None
    if isinstance(t, st.JSON):
        return pa.string(), _json
    if isinstance(t, (st.String, st.Enum)):
        return pa.string(), None
    if isinstance(t, st.Uuid):
        return pa.string(), _text
    return None, None


_PG = {"bool": "bool", "int2": "int16", "int4": "int32", "int8": "int64", "oid": "int64", "float4": "float32",
       "float8": "float64", "text": "string", "varchar": "string", "bpchar": "string", "name": "string",
       "char": "string", "date": "date32", "timestamp": "ts", "timestamptz": "tstz", "time": "time",
       "bytea": "binary", "interval": "duration"}
# MySQL field types (pymysql.constants.FIELD_TYPE)
_MY = {1: "int64", 2: "int64", 3: "int64", 8: "int64", 9: "int64", 13: "int16", 4: "float32", 5: "float64",
       10: "date32", 14: "date32", 7: "ts", 12: "ts", 11: "duration", 245: "json"}


def _named(kind: str) -> tuple[Any, Converter]:
    return {"bool": (pa.bool_(), None), "int16": (pa.int16(), None), "int32": (pa.int32(), None),
            "int64": (pa.int64(), None), "float32": (pa.float32(), None), "float64": (pa.float64(), None),
            "string": (pa.string(), None), "date32": (pa.date32(), None), "ts": (pa.timestamp("us"), None),
            "tstz": (pa.timestamp("us", tz="UTC"), None), "time": (pa.time64("us"), None),
            "binary": (pa.binary(), None), "duration": (pa.duration("us"), None),
            "json": (pa.string(), _json), "text": (pa.string(), _text)}[kind]


def described_types(dialect: str, description: Any) -> list[tuple[Any, Converter]]:
    """Column types from a DBAPI cursor description ((None, None) where it says nothing)."""
    out: list[tuple[Any, Converter]] = []
    for col in description or ():
        typ: tuple[Any, Converter] = (None, None)
        if dialect == "postgresql":
            from psycopg.postgres import types as pgtypes

            info = pgtypes.get(col[1])
            name = info.name if info else ""
            if name == "numeric":
                typ = _decimal(getattr(col, "precision", None), getattr(col, "scale", None))
            elif name in ("json", "jsonb"):
                typ = _named("json")
            elif name in _PG:
                typ = _named(_PG[name])
            elif name:
                typ = _named("text")  # uuid, inet, arrays...: their text form
        elif dialect in ("mysql", "mariadb"):
            code = col[1]
            if code in (0, 246):  # DECIMAL / NEWDECIMAL: description gives display length and scale
                scale = int(col[5] or 0)
                typ = _decimal(max(1, int(col[4] or 0) - (1 if scale else 0) - 1), scale)
            elif code in _MY:
                typ = _named(_MY[code])
        out.append(typ)
    return out


@dataclass
class SqlStream:
    """An open SQL result: column names/types and a batch iterator."""

    columns: list[Column]
    result: Any
    batch_rows: int

    def schema(self) -> Any:
        return pa.schema([(c.name, c.type) for c in self.columns])

    def _infer(self, values: list[Any]) -> None:
        for c, col in zip(self.columns, values):
            if c.type is None:
                inferred = pa.array(col, from_pandas=False).type if col else pa.null()
                if pa.types.is_null(inferred):
                    c.type, c.convert = pa.string(), _text
                else:
                    c.type = inferred

    def batches(self) -> Iterator[Any]:
        """Record batches of at most ``batch_rows`` rows (at least one, possibly empty)."""
        first = True
        for rows in self.result.partitions(self.batch_rows):
            values = list(zip(*rows)) if rows else [() for _ in self.columns]
            if first:
                self._infer(values)
                first = False
            yield pa.RecordBatch.from_arrays([_array(v, c) for v, c in zip(values, self.columns)],
                                             schema=self.schema())
        if first:
            self._infer([() for _ in self.columns])
            yield pa.RecordBatch.from_arrays([pa.array([], c.type) for c in self.columns], schema=self.schema())


def _array(values: Any, col: Column) -> Any:
    if col.convert is not None:
        values = [col.convert(v) for v in values]
    try:
        return pa.array(values, type=col.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        if pa.types.is_string(col.type):
            return pa.array([_text(v) for v in values], type=col.type)
        raise


class _CopyReader(io.RawIOBase):
    """A readable file over a psycopg COPY ... TO STDOUT stream (libpq hands over one row per
    read: rows are gathered until the caller's buffer is full)."""

    def __init__(self, copy: Any):
        self.copy = copy
        self.pending = bytearray()
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        want = len(b)
        read = self.copy.read
        pending = self.pending
        while len(pending) < want and not self.done:
            chunk = read()
            if chunk:
                pending += chunk
            else:
                self.done = True
        n = min(want, len(pending))
        b[:n] = pending[:n]
        del pending[:n]
        return n


def _copy_safe(col: Column) -> bool:
    """Types whose PostgreSQL text form pyarrow's CSV reader parses exactly."""
    t = col.type
    return t is not None and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                              or pa.types.is_string(t) or pa.types.is_decimal(t) or pa.types.is_date32(t)
                              or pa.types.is_timestamp(t))


@dataclass
class CopyStream:
    """PostgreSQL fast path: ``COPY (query) TO STDOUT (FORMAT csv)`` parsed by pyarrow's
    streaming CSV reader in C, with the column types fixed in advance (no Python object per
    value). Same transaction (read-only), same types as the row path."""

    columns: list[Column]
    conn: Any
    sql: str
    block_size: int = 4 << 20

    def schema(self) -> Any:
        return pa.schema([(c.name, c.type) for c in self.columns])

    def batches(self) -> Iterator[Any]:
        raw = self.conn.connection.driver_connection
        names = [f"c{i}" for i in range(len(self.columns))]  # result names may repeat
        convert = pcsv.ConvertOptions(column_types={n: c.type for n, c in zip(names, self.columns)},
                                      true_values=["t"], false_values=["f"], null_values=[""],
                                      strings_can_be_null=True, quoted_strings_can_be_null=False)
        schema = self.schema()
        with raw.cursor() as cur:
            cur.execute("SET LOCAL TimeZone = 'UTC'")
            cur.execute("SET LOCAL DateStyle = 'ISO'")
            # newlines: a trailing "-- comment" in the query must not swallow the closing parenthesis
            with cur.copy(f"COPY (\n{self.sql}\n) TO STDOUT (FORMAT csv)") as copy:
                reader = pcsv.open_csv(io.BufferedReader(_CopyReader(copy), 1 << 20),
                                       read_options=pcsv.ReadOptions(column_names=names, block_size=self.block_size),
                                       parse_options=pcsv.ParseOptions(newlines_in_values=True),
                                       convert_options=convert)
                empty = True
                for batch in reader:
                    empty = False
                    yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
                if empty:
                    yield pa.RecordBatch.from_arrays([pa.array([], c.type) for c in self.columns], schema=schema)


def _table_select(conn_: SqlConnector, sc: Scrubber, conn: Any, doing: str, table: str, schema: str | None,
                  limit: int | None) -> tuple[Any, list[tuple[Any, Converter]]]:
    """(SELECT of the table ordered by its primary key, the arrow types of its columns)."""
    sa = need("sqlalchemy", "sql")
    if not sa.inspect(conn).has_table(table, schema=schema):
        raise conn_.error(sc, doing, f"table {(schema + '.') if schema else ''}{table} does not exist")
    t = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
    stmt: Any = sa.select(t).order_by(*t.primary_key.columns)
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt, [arrow_type(c.type, conn.dialect.name) for c in t.columns]


def _result_columns(conn: Any, result: Any, types: list[tuple[Any, Converter]] | None) -> list[Column]:
    """The result's columns, typed by the table or else by the cursor description (untyped when they disagree)."""
    if types is None:
        types = described_types(conn.dialect.name, result.cursor.description)
    names = list(result.keys())
    if len(types) != len(names):
        types = [(None, None)] * len(names)
    return [Column(n, t, cv) for n, (t, cv) in zip(names, types)]


@contextmanager
def open_sql(conn_: SqlConnector, sc: Scrubber, table: str | None = None, schema: str | None = None,
             query: str | None = None, limit: int | None = None, batch_rows: int | None = None,
             fast: bool = False) -> Iterator[SqlStream | CopyStream]:
    """Run the table read (ordered by its primary key: the same data gives the same file) or the
    query, read-only, and yield the open stream. Every failure is a ConnectorError naming the
    connector, redacted."""
    need("sqlalchemy", "sql")
    need("pyarrow", "sql")
    batch = batch_rows or BATCH_ROWS
    conn_.check_sqlite_file(sc)
    with conn_.engine(sc) as eng:
        try:
            conn = eng.connect()
        except Exception as exc:
            raise conn_.error(sc, "connect", exc) from None
        with conn:
            doing = f"read table {table}" if table else "run query"
            try:
                set_read_only(conn)
                stmt, types = _table_select(conn_, sc, conn, doing, table, schema, limit) if table else (None, None)
                streaming = conn.execution_options(stream_results=True, max_row_buffer=batch, yield_per=batch)
                # a query runs as written: exec_driver_sql does not parse ':name' as bind parameters
                result = streaming.execute(stmt) if stmt is not None else run_sql(streaming, str(query))
                cols = _result_columns(conn, result, types)
                if fast and conn.dialect.driver == "psycopg" and all(_copy_safe(c) for c in cols):
                    result.close()
                    sql = (str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
                           if stmt is not None else str(query).strip().rstrip(";"))
                    yield CopyStream(cols, conn, sql)
                else:
                    yield SqlStream(cols, result, batch if limit is None else min(batch, limit))
            except Exception as exc:
                if isinstance(exc, GeneratorExit):
                    raise
                if isinstance(exc, ConnectorError):
                    raise
                raise conn_.error(sc, doing, exc) from None


def value_repr(v: Any) -> Any:
    """A JSON-friendly form of one value (previews)."""
    if isinstance(v, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return str(v)
    if isinstance(v, bytes):
        return v[:32].hex()
    return v
