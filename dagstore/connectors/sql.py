"""``sql`` connectors: any SQLAlchemy URL (PostgreSQL via psycopg 3, MySQL/MariaDB via PyMySQL,
SQLite). ``username``/``password`` may be given beside the URL; a password only as ``${ENV}``."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .base import BaseConnector
from ._extras import need
from .errors import ConnectorError
from .registry import register
from ..secrets import Scrubber, redact

CONNECT_TIMEOUT = 10


@register
class SqlConnector(BaseConnector):
    """A database reached through SQLAlchemy 2."""

    type = "sql"
    required = ("url",)

    def normalize(self) -> None:
        url = self.spec.get("url")
        if url is not None and (not isinstance(url, str) or "://" not in url):
            raise ConnectorError(f"connector {self.name!r} (sql): url must be an SQLAlchemy URL like "
                                 "postgresql+psycopg://host:5432/db")

    @property
    def dialect(self) -> str:
        """``postgresql``, ``mysql``, ``sqlite``... (the URL's scheme before ``+``)."""
        return str(self.spec["url"]).split("://", 1)[0].split("+", 1)[0]

    def where(self) -> str:
        return str(redact(self.spec)["url"])

    def sa_url(self, sc: Scrubber) -> Any:
        """The resolved ``sqlalchemy.URL`` (its repr and str hide the password)."""
        sa = need("sqlalchemy", "sql")
        raw = self.spec["url"]
        url = sa.engine.make_url(sc.resolve(raw))
        sc.add(url.password if isinstance(url.password, str) else None)
        if self.spec.get("username"):
            url = url.set(username=sc.resolve(self.spec["username"]))
        if self.spec.get("password"):
            password = sc.resolve(self.spec["password"])
            sc.add(password)
            sc.add(urllib.parse.quote(password, safe=""))
            url = url.set(password=password)
        return url

    @contextmanager
    def engine(self, sc: Scrubber | None = None) -> Iterator[Any]:
        """A SQLAlchemy engine without a pool (no connection outlives the block)."""
        sa = need("sqlalchemy", "sql")
        sc = sc or self.scrubber()
        url = self.sa_url(sc)
        args: dict[str, Any] = {}
        if self.dialect in ("postgresql", "mysql", "mariadb"):
            args["connect_timeout"] = CONNECT_TIMEOUT
        try:
            eng = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args)
        except Exception as exc:  # unknown dialect, missing driver
            raise self.error(sc, "cannot create engine", exc) from None
        try:
            yield eng
        finally:
            eng.dispose()

    def missing_sqlite_file(self, sc: Scrubber) -> str | None:
        """The SQLite database file this connector names when it does not exist (else None)."""
        if self.dialect != "sqlite":
            return None
        db = self.sa_url(sc).database
        return db if db and db != ":memory:" and not db.startswith("file:") and not os.path.exists(db) else None

    def check_sqlite_file(self, sc: Scrubber) -> None:
        """SQLite creates a missing file on connect: refuse a missing database instead (reads)."""
        db = self.missing_sqlite_file(sc)
        if db:
            raise self.error(sc, "connect", f"database file {db} does not exist")

    def _test(self, sc: Scrubber) -> str:
        sa = need("sqlalchemy", "sql")
        self.check_sqlite_file(sc)
        with self.engine(sc) as eng:
            try:
                with eng.connect() as conn:
                    one = conn.execute(sa.text("SELECT 1")).scalar()
            except Exception as exc:
                raise self.error(sc, "SELECT 1 failed", exc) from None
        if one != 1:
            raise self.error(sc, "SELECT 1", f"returned {one!r}")
        return f"connector {self.name!r}: connected to {self.where()}, SELECT 1 ok"


def set_read_only(conn: Any) -> None:
    """Make the connection's current transaction read-only where the database allows it."""
    name = conn.dialect.name
    if name in ("postgresql", "mysql", "mariadb"):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")


def run_sql(conn: Any, statement: str) -> Any:
    """Execute a statement exactly as written: no ``:name`` bind parsing, and ``%`` escaped for
    drivers whose parameter style would read it as a placeholder (psycopg, PyMySQL)."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    return conn.exec_driver_sql(statement)
