"""A tabular file into a SQL table (SQLAlchemy 2), in one of four modes.

- ``overwrite``: the rows go into a staging table, which then replaces the table. PostgreSQL
  and SQLite do it all in one transaction (their DDL is transactional); MySQL/MariaDB, whose
  DDL commits, swap with one atomic ``RENAME TABLE t TO old, staging TO t``. Readers see the
  old table or the new one, never a half-loaded one.
- ``timestamp``: a new table ``<table>_<YYYYMMDD_HHMMSS>`` (UTC), ``_2``, ``_3``… when taken,
  the base shortened to fit the database's identifier limit.
- ``append``: rows added to the table (created when missing); its columns must match.
- ``safe``: a new table; an error if it exists.

PostgreSQL with psycopg 3 loads through ``COPY … FROM STDIN`` fed by pyarrow's CSV writer; other
databases through batched ``INSERT``s. Identifiers are quoted by SQLAlchemy, never pasted.
"""

from __future__ import annotations

import contextlib
import io
import secrets as _random
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from .errors import DeliveryError

MODES = ("overwrite", "timestamp", "append", "safe")
_LIMITS = {"postgresql": 63, "mysql": 64, "mariadb": 64, "sqlite": 128}
_INSERT_BATCH = 5000


class ExportTableError(DeliveryError):
    """The table could not be written; nothing was changed."""


def sa_type(t: Any) -> Any:
    """The SQLAlchemy column type for a pyarrow type."""
    import sqlalchemy as sa

    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return sa.SmallInteger()
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return sa.Integer()
    if pa.types.is_integer(t):
        return sa.BigInteger()
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return sa.Float()
    if pa.types.is_floating(t):
        return sa.Double()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_time(t):
        return sa.Time()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return sa.LargeBinary()
    return sa.Text()


def _fit(base: str, suffix: str, limit: int) -> str:
    """``base + suffix`` shortened (the base only) to at most ``limit`` bytes."""
    room = limit - len(suffix.encode())
    cut = base.encode()[:room].decode(errors="ignore")
    return cut + suffix


def _limit(engine: Any) -> int:
    return _LIMITS.get(engine.dialect.name, 63)


def timestamp_name(table: str, now: datetime, n: int, limit: int) -> str:
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d_%H%M%S")
    return _fit(table, f"_{stamp}" + (f"_{n}" if n > 1 else ""), limit)


@contextlib.contextmanager
def _transaction(engine: Any) -> Iterator[Any]:
    """A connection in one transaction that also covers DDL (SQLite's driver needs an explicit
    BEGIN for that)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            raw = conn.connection.driver_connection
            old = raw.isolation_level
            raw.isolation_level = None
            try:
                conn.exec_driver_sql("BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            finally:
                raw.isolation_level = old
            return
        with conn.begin():
            yield conn


def _exists(conn: Any, table: str, schema: str | None) -> bool:
    import sqlalchemy as sa

    return bool(sa.inspect(conn).has_table(table, schema=schema))


def _table(name: str, arrow_schema: Any, schema: str | None) -> Any:
    import sqlalchemy as sa

    cols = [sa.Column(f.name, sa_type(f.type), nullable=True) for f in arrow_schema]
    return sa.Table(name, sa.MetaData(), *cols, schema=schema)


def _copy_ok(conn: Any, arrow_schema: Any) -> bool:
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return False
    return not any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_nested(f.type)
                   or pa.types.is_fixed_size_binary(f.type) for f in arrow_schema)


def _load(conn: Any, table: Any, batches: Iterable[Any], arrow_schema: Any) -> int:
    """Insert every batch into ``table``; returns the row count."""
    rows = 0
    if _copy_ok(conn, arrow_schema):
        prep = conn.dialect.identifier_preparer
        cols = ", ".join(prep.quote(c.name) for c in table.columns)
        sql = f"COPY {prep.format_table(table)} ({cols}) FROM STDIN (FORMAT csv)"
        cur = conn.connection.driver_connection.cursor()
        opts = pcsv.WriteOptions(include_header=False, quoting_style="needed")
        with cur.copy(sql) as copy:
            for batch in batches:
                buf = io.BytesIO()
                pcsv.write_csv(batch, buf, opts)
                copy.write(buf.getbuffer())
                rows += batch.num_rows
        return rows
    ins = table.insert()
    for batch in batches:
        data = batch.to_pylist()
        for i in range(0, len(data), _INSERT_BATCH):
            conn.execute(ins, data[i:i + _INSERT_BATCH])
        rows += batch.num_rows
    return rows


def _columns(conn: Any, table: str, schema: str | None) -> list[str]:
    import sqlalchemy as sa

    return [c["name"] for c in sa.inspect(conn).get_columns(table, schema=schema)]


def _drop(engine: Any, name: str, schema: str | None) -> None:
    import sqlalchemy as sa

    with contextlib.suppress(sa.exc.SQLAlchemyError), engine.begin() as conn:
        sa.Table(name, sa.MetaData(), schema=schema).drop(conn, checkfirst=True)


class _Target:
    """One write: the engine, the table and how names are quoted and bounded."""

    def __init__(self, engine: Any, table: str, schema: str | None, arrow_schema: Any):
        self.engine, self.table, self.schema, self.arrow_schema = engine, table, schema, arrow_schema
        self.limit = _limit(engine)
        self.prep = engine.dialect.identifier_preparer

    def q(self, name: str) -> str:
        """The schema-qualified, quoted name."""
        return f"{self.prep.quote_schema(self.schema)}.{self.prep.quote(name)}" if self.schema else self.prep.quote(name)

    def new(self, name: str) -> Any:
        return _table(name, self.arrow_schema, self.schema)

    def staging(self, kind: str = "") -> str:
        return _fit(self.table, f"__dagstore{kind}_{_random.token_hex(4)}", self.limit)


def write_table(engine: Any, batches: Iterable[Any], arrow_schema: Any, table: str, *, schema: str | None = None,
                mode: str = "overwrite", now: datetime | None = None) -> tuple[str, int]:
    """Write the batches; returns (the table written, rows). ExportTableError leaves nothing."""
    import sqlalchemy as sa

    if mode not in MODES:
        raise ExportTableError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    t = _Target(engine, table, schema, arrow_schema)
    if len(table.encode()) > t.limit:
        raise ExportTableError(f"table name {table!r} is longer than {t.limit} bytes")
    now = now or datetime.now(timezone.utc)
    try:
        if mode == "append":
            return _append(t, batches)
        if engine.dialect.name in ("mysql", "mariadb"):
            return _swap_mysql(t, batches, mode, now)
        return _in_one_transaction(t, batches, mode, now)
    except sa.exc.SQLAlchemyError as exc:
        inner = getattr(exc, "orig", None) or exc
        raise ExportTableError(f"writing table {table!r} failed: {type(inner).__name__}: "
                               f"{(str(inner).splitlines() or [''])[0][:300]}") from None


def _append(t: _Target, batches: Iterable[Any]) -> tuple[str, int]:
    with _transaction(t.engine) as conn:
        target = t.new(t.table)
        if _exists(conn, t.table, t.schema):
            have, want = _columns(conn, t.table, t.schema), [f.name for f in t.arrow_schema]
            if set(have) != set(want):
                raise ExportTableError(f"cannot append to {t.table!r}: its columns {have} differ from the file's {want}")
        else:
            target.create(conn)
        return t.table, _load(conn, target, batches, t.arrow_schema)


def _in_one_transaction(t: _Target, batches: Iterable[Any], mode: str, now: datetime) -> tuple[str, int]:
    """PostgreSQL, SQLite: the new table appears whole at commit, or not at all."""
    import sqlalchemy as sa

    with _transaction(t.engine) as conn:
        if mode == "timestamp":
            n, name = 1, timestamp_name(t.table, now, 1, t.limit)
            while _exists(conn, name, t.schema):
                n += 1
                name = timestamp_name(t.table, now, n, t.limit)
        else:
            name = t.table
            if mode == "safe" and _exists(conn, t.table, t.schema):
                raise ExportTableError(f"table {t.table!r} exists (mode safe)")
        staging = t.staging() if mode == "overwrite" else name
        created = t.new(staging)
        created.create(conn)
        rows = _load(conn, created, batches, t.arrow_schema)
        if mode == "overwrite":
            if _exists(conn, t.table, t.schema):
                conn.execute(sa.text(f"DROP TABLE {t.q(t.table)}"))
            conn.execute(sa.text(f"ALTER TABLE {t.q(staging)} RENAME TO {t.prep.quote(t.table)}"))
        return name, rows


def _swap_mysql(t: _Target, batches: Iterable[Any], mode: str, now: datetime) -> tuple[str, int]:
    """MySQL/MariaDB: DDL commits, so build a staging table, then one atomic RENAME TABLE."""
    import sqlalchemy as sa

    staging = t.staging()
    try:
        created = t.new(staging)
        with _transaction(t.engine) as conn:
            created.create(conn)
        with _transaction(t.engine) as conn:
            rows = _load(conn, created, batches, t.arrow_schema)
        with t.engine.connect() as conn:
            if mode == "overwrite":
                if _exists(conn, t.table, t.schema):
                    old = t.staging("_old")
                    conn.execute(sa.text(f"RENAME TABLE {t.q(t.table)} TO {t.q(old)}, {t.q(staging)} TO {t.q(t.table)}"))
                    conn.execute(sa.text(f"DROP TABLE {t.q(old)}"))
                else:
                    conn.execute(sa.text(f"RENAME TABLE {t.q(staging)} TO {t.q(t.table)}"))
                return t.table, rows
            return _rename_new(conn, t, staging, mode, now), rows
    finally:
        _drop(t.engine, staging, t.schema)


def _rename_new(conn: Any, t: _Target, staging: str, mode: str, now: datetime) -> str:
    """RENAME the staging table to a name that does not exist yet (RENAME refuses an existing
    target, so a concurrent writer is never overwritten)."""
    import sqlalchemy as sa

    n = 1
    while True:
        name = t.table if mode == "safe" else timestamp_name(t.table, now, n, t.limit)
        if _exists(conn, name, t.schema):
            if mode == "safe":
                raise ExportTableError(f"table {t.table!r} exists (mode safe)")
            n += 1
            continue
        try:
            conn.execute(sa.text(f"RENAME TABLE {t.q(staging)} TO {t.q(name)}"))
            return name
        except sa.exc.OperationalError:
            if mode == "safe" or not _exists(conn, name, t.schema):
                raise
            n += 1
