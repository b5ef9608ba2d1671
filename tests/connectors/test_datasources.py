"""Datasources into versions: SQL tables and queries (PostgreSQL, MariaDB, SQLite) and paths
(SFTP, FTP, S3), refresh with and without changes, failures that leave nothing behind, and no
secret anywhere in the store."""
from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from dagstore import Dataset, Store
from dagstore.connectors import ConnectorError, ConnectorNotFoundError
from servers import closed_port


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp folder datasource reads are staged in (checked empty after failures)."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def sql(conn: Any, *statements: str) -> None:
    from dagstore.connectors.sql import run_sql
    with conn.engine() as eng, eng.begin() as c:
        for s in statements:
            run_sql(c, s)


@pytest.fixture
def pg(store: Store, postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A connector to the session PostgreSQL with a fresh `items` table (3 rows)."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.info["password"])
    conn = store.connectors.create("pg", "sql", url=postgres_server.info["url"], password="${PGPASSWORD}")
    sql(conn, "DROP TABLE IF EXISTS items",
        "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), seen timestamptz, "
        "day date, ok bool, score float8, n bigint)",
        "INSERT INTO items VALUES (1, 'apple', 1.50, '2024-01-01 10:00+00', '2024-01-01', true, 0.5, 10), "
        "(2, 'pear', NULL, NULL, NULL, NULL, NULL, NULL), (3, 'fig', 3.25, '2024-03-01 00:00+00', '2024-03-01', false, 2.5, 30)")
    return conn


def versions(store: Store) -> list[dict[str, Any]]:
    return Dataset.list_datasets(store=store, only_completed=False)


def read_version_table(ds: Dataset, path: str = "data.parquet") -> pa.Table:
    with ds.open(path) as f:
        return pq.read_table(f) if path.endswith(".parquet") else pcsv.read_csv(f)


def assert_nothing_left(store: Store, staging: Path) -> None:
    assert versions(store) == []
    assert store.drafts() == []
    assert list(staging.iterdir()) == []


# ------------------------------------------------------------------ SQL into versions

def test_postgres_table_into_parquet_version_types_kept(store: Store, pg: Any) -> None:
    store.datasources.create("items", "pg", table="items")
    ds = Dataset.create_from_datasource("items", "items", dataset_project="shop", store=store)
    assert ds.is_final() and ds.list_files() == ["data.parquet"]
    t = read_version_table(ds)
    assert t.column_names == ["id", "name", "price", "seen", "day", "ok", "score", "n"]
    assert [str(f.type) for f in t.schema] == ["int32", "string", "decimal128(10, 2)", "timestamp[us, tz=UTC]",
                                               "date32[day]", "bool", "double", "int64"]
    assert t.column("id").to_pylist() == [1, 2, 3] and t.column("price").to_pylist()[1] is None
    meta = ds.get_metadata("datasource")
    assert meta["rows"] == 3 and meta["name"] == "items" and meta["table"] == "items"
    assert meta["connector"] == "pg" and meta["connector_type"] == "sql"
    assert ds.origin == "datasource"


def test_postgres_query_into_csv_version(store: Store, pg: Any) -> None:
    store.datasources.create("cheap", "pg", query="SELECT id, name, price FROM items WHERE price < 2 OR price IS NULL "
                                                  "ORDER BY id -- a 100% plain query with a ':colon'")
    ds = Dataset.create_from_datasource("cheap", "cheap", dataset_project="shop", file_format="csv", store=store)
    assert ds.list_files() == ["data.csv"]
    t = read_version_table(ds, "data.csv")
    assert t.column("id").to_pylist() == [1, 2] and t.column("name").to_pylist() == ["apple", "pear"]
    assert ds.get_metadata("datasource")["rows"] == 2


def test_identifiers_are_quoted_never_pasted(store: Store, pg: Any) -> None:
    weird = 'odd "name"; DROP TABLE items; --'
    sql(pg, f'CREATE TABLE "{weird.replace(chr(34), chr(34) * 2)}" (id int PRIMARY KEY, "Mixed Case" text)',
        f'INSERT INTO "{weird.replace(chr(34), chr(34) * 2)}" VALUES (7, \'x\')')
    store.datasources.create("weird", "pg", table=weird, schema="public")
    ds = Dataset.create_from_datasource("weird", "weird", store=store)
    assert read_version_table(ds).to_pylist() == [{"id": 7, "Mixed Case": "x"}]
    store.datasources.create("still", "pg", table="items")
    assert Dataset.create_from_datasource("still", "still", store=store).get_metadata("datasource")["rows"] == 3


def test_mariadb_table_into_version(store: Store, mariadb_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYPW", mariadb_server.info["password"])
    conn = store.connectors.create("maria", "sql", url=mariadb_server.info["url"], password="${MYPW}")
    sql(conn, "DROP TABLE IF EXISTS orders",
        "CREATE TABLE orders (id INT PRIMARY KEY, who VARCHAR(20), total DECIMAL(8,2), at DATETIME)",
        "INSERT INTO orders VALUES (2, 'bob', 9.99, '2024-05-01 12:00:00'), (1, 'ünï', NULL, NULL)")
    store.datasources.create("orders", "maria", table="orders")
    ds = Dataset.create_from_datasource("orders", "orders", store=store)
    t = read_version_table(ds)
    assert t.column("id").to_pylist() == [1, 2] and t.column("who").to_pylist() == ["ünï", "bob"]
    assert str(t.schema.field("total").type) == "decimal128(8, 2)"
    store.datasources.create("orders_q", "maria", query="SELECT who, total FROM orders WHERE total > 1")
    assert read_version_table(Dataset.create_from_datasource("orders_q", "oq", store=store)).to_pylist() == [
        {"who": "bob", "total": __import__("decimal").Decimal("9.99")}]


def test_sqlite_table_into_version(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "local.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT, w REAL)")
        c.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"l{i}", i / 2) for i in range(1, 101)])
    store.connectors.create("lite", "sql", url=f"sqlite:///{db}")
    store.datasources.create("t", "lite", table="t")
    t = read_version_table(Dataset.create_from_datasource("t", "t", store=store))
    assert t.num_rows == 100 and str(t.schema.field("id").type) == "int64" and t.column("w")[3].as_py() == 2.0


def test_large_table_streams_in_batches(store: Store, pg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore.connectors import sqlread
    sql(pg, "DROP TABLE IF EXISTS many", "CREATE TABLE many AS SELECT i AS id, md5(i::text) AS h FROM generate_series(1, 30000) i",
        "ALTER TABLE many ADD PRIMARY KEY (id)", "CREATE TABLE many_interval AS SELECT i AS id, (i || ' s')::interval AS dur "
        "FROM generate_series(1, 3000) i")
    monkeypatch.setattr(sqlread, "BATCH_ROWS", 1000)
    store.datasources.create("many", "pg", table="many")
    store.datasources.create("dur", "pg", query="SELECT id, dur FROM many_interval ORDER BY id")  # the row path
    f = pq.ParquetFile(Dataset.create_from_datasource("many", "many", store=store).open("data.parquet"))
    assert f.metadata.num_rows == 30000
    g = pq.ParquetFile(Dataset.create_from_datasource("dur", "dur", store=store).open("data.parquet"))
    assert g.metadata.num_rows == 3000 and g.metadata.num_row_groups == 3  # one row group per batch
    assert str(g.schema_arrow.field("dur").type) == "duration[us]"


# ------------------------------------------------------------------ paths into versions

def test_sftp_folder_file_and_wildcard(store: Store, sshd_server: Any) -> None:
    i = sshd_server.info
    root = Path(i["root"])
    (root / "drop" / "sub").mkdir(parents=True)
    (root / "drop" / "a.csv").write_text("x\n1\n")
    (root / "drop" / "sub" / "b.csv").write_text("x\n2\n")
    (root / "drop" / "notes.txt").write_text("n")
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    store.datasources.create("folder", "sd", path="drop")
    store.datasources.create("one", "sd", path="drop/notes.txt")
    store.datasources.create("csvs", "sd", path="drop/*.csv")
    assert Dataset.create_from_datasource("folder", "f", store=store).list_files() == ["a.csv", "notes.txt", "sub/b.csv"]
    one = Dataset.create_from_datasource("one", "o", store=store)
    assert one.list_files() == ["notes.txt"] and one.read_bytes("notes.txt") == b"n"
    assert Dataset.create_from_datasource("csvs", "c", store=store).list_files() == ["a.csv"]
    prev = store.datasources.test("folder")
    assert prev.ok and prev.files == [("a.csv", 4), ("notes.txt", 1), ("sub/b.csv", 4)]


def test_ftp_and_password_sftp_paths(store: Store, ftp_server: Any, sftp_password_server: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    f, s = ftp_server.info, sftp_password_server.info
    (Path(f["local"]) / "in").mkdir(exist_ok=True)
    (Path(f["local"]) / "in" / "p.bin").write_bytes(os.urandom(3000))
    (Path(s["local"]) / "x.json").write_text("{}")
    monkeypatch.setenv("FTPPW", f["password"])
    monkeypatch.setenv("SFTPPW", s["password"])
    store.connectors.create("ftp", "ftp", url=f"ftp://{f['username']}@127.0.0.1:{f['port']}/", password="${FTPPW}")
    store.connectors.create("asf", "sftp", url=f"sftp://{s['username']}@127.0.0.1:{s['port']}/", password="${SFTPPW}")
    store.datasources.create("ftpin", "ftp", path="in")
    store.datasources.create("sx", "asf", path="x.json")
    ds = Dataset.create_from_datasource("ftpin", "ftpin", store=store)
    assert ds.read_bytes("p.bin") == (Path(f["local"]) / "in" / "p.bin").read_bytes()
    assert Dataset.create_from_datasource("sx", "sx", store=store).read_bytes("x.json") == b"{}"
    assert ds.origin == "datasource" and ds.get_metadata("datasource")["files"] == 1


@pytest.mark.parametrize("backend_server", ["s3"], indirect=True)
def test_bucket_path_into_version(store: Store, backend_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = backend_server.new_root("exports")
    fs = backend_server.fs()
    fs.pipe(url.split("://", 1)[1] + "/day1/a.txt", b"A")
    opts = dict(backend_server.storage_options)
    monkeypatch.setenv("S3SECRET", opts.pop("secret"))
    monkeypatch.setenv("S3KEY", opts.pop("key"))
    store.connectors.create("bkt", "s3", url=url, storage_options={**opts, "key": "${S3KEY}", "secret": "${S3SECRET}"})
    store.datasources.create("day1", "bkt", path="day1")
    assert Dataset.create_from_datasource("day1", "d1", store=store).read_bytes("a.txt") == b"A"


# ------------------------------------------------------------------ refresh

def test_sync_unchanged_returns_latest_changed_makes_child(store: Store, pg: Any) -> None:
    store.datasources.create("items", "pg", table="items")
    first = Dataset.sync_datasource("items", "items", dataset_project="shop", store=store)  # creates
    same = Dataset.sync_datasource("items", "items", dataset_project="shop", store=store)
    assert same.id == first.id and len(versions(store)) == 1
    sql(pg, "UPDATE items SET price = 9.99 WHERE id = 2")
    child = Dataset.sync_datasource("items", "items", dataset_project="shop", store=store)
    assert child.id != first.id and child.parents == [first.id] and child.version == "1.0.1"
    assert read_version_table(child).column("price").to_pylist()[1] == __import__("decimal").Decimal("9.99")
    assert child.origin == "datasource" and len(versions(store)) == 2
    assert Dataset.sync_datasource("items", "items", dataset_project="shop", store=store).id == child.id


def test_sync_path_removes_deleted_files(store: Store, sshd_server: Any) -> None:
    i = sshd_server.info
    root = Path(i["root"]) / "feed"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    store.datasources.create("feed", "sd", path="feed")
    v1 = Dataset.sync_datasource("feed", "feed", store=store)
    assert Dataset.sync_datasource("feed", "feed", store=store).id == v1.id
    (root / "b.txt").unlink()
    (root / "c.txt").write_text("c")
    v2 = Dataset.sync_datasource("feed", "feed", store=store)
    assert v2.parents == [v1.id] and v2.list_files() == ["a.txt", "c.txt"]
    assert v2.list_removed_files() == ["b.txt"] and v2.list_added_files() == ["c.txt"]


# ------------------------------------------------------------------ failures leave nothing

def check_failure(store: Store, staging: Path, name: str, *needles: str, secret: str | None = None) -> None:
    with pytest.raises(ConnectorError) as ei:
        Dataset.create_from_datasource(name, "out", store=store)
    msg = str(ei.value)
    assert "\n" not in msg
    for n in needles:
        assert n.lower() in msg.lower(), msg
    if secret:
        assert secret not in msg and secret not in repr(ei.value)
    assert_nothing_left(store, staging)


def test_wrong_password_no_version(store: Store, pg: Any, staging: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.datasources.create("items", "pg", table="items")
    monkeypatch.setenv("PGPASSWORD", "wrong-pass-123")
    check_failure(store, staging, "items", "'pg'", "password authentication failed", "127.0.0.1",
                  secret="wrong-pass-123")
    assert not store.datasources.test("items").ok


def test_unreachable_host_no_version(store: Store, staging: Path) -> None:
    store.connectors.create("down", "sql", url=f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/x")
    store.datasources.create("d", "down", table="t")
    check_failure(store, staging, "d", "'down'", "refused")


def test_missing_table_no_version(store: Store, pg: Any, staging: Path) -> None:
    store.datasources.create("nope", "pg", table="no_such_table")
    check_failure(store, staging, "nope", "no_such_table does not exist")


@pytest.mark.parametrize("fast", [True, False])
def test_query_failing_half_way_no_partial_file(store: Store, pg: Any, staging: Path, fast: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from dagstore.connectors import sqlread
    monkeypatch.setattr(sqlread, "BATCH_ROWS", 1000)
    monkeypatch.setattr(sqlread.CopyStream, "block_size", 1 << 16)
    col = "md5(i::text)" if fast else "(i || ' s')::interval"  # interval: the row path
    store.datasources.create("half", "pg", query=f"SELECT i, {col} AS v, 1 / (i - 150000) AS boom "
                                                 "FROM generate_series(1, 200000) i")
    check_failure(store, staging, "half", "division by zero", "'pg'")


def test_read_only_query_cannot_write(store: Store, pg: Any, staging: Path) -> None:
    sql(pg, "CREATE OR REPLACE FUNCTION purge() RETURNS int LANGUAGE sql AS 'DELETE FROM items; SELECT 0'")
    store.datasources.create("sneaky", "pg", query="SELECT purge() AS n")
    check_failure(store, staging, "sneaky", "read-only transaction")
    with pg.engine() as eng, eng.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM items").scalar() == 3


def test_missing_path_no_version(store: Store, sshd_server: Any, staging: Path) -> None:
    i = sshd_server.info
    store.connectors.create("sd", "sftp", host=i["host"], port=i["port"], username=i["username"],
                            key_file=i["key_file"], root=i["root"])
    store.datasources.create("gone", "sd", path="no/such/dir")
    check_failure(store, staging, "gone", "'sd'", "does not exist")
    store.datasources.create("nomatch", "sd", path="*.nothing")
    check_failure(store, staging, "nomatch", "no files match")


def test_datasource_definitions_are_checked(store: Store, pg: Any) -> None:
    with pytest.raises(ConnectorError, match="exactly one"):
        store.datasources.create("x", "pg", table="items", query="SELECT 1")
    with pytest.raises(ConnectorError, match="use table or query"):
        store.datasources.create("x", "pg", path="a/b")
    with pytest.raises(ConnectorNotFoundError):
        store.datasources.create("x", "nope", table="t")
    with pytest.raises(ConnectorNotFoundError):
        Dataset.create_from_datasource("undefined", "x", store=store)
    store.datasources.create("items", "pg", table="items")
    assert [d.name for d in store.datasources.list()] == ["items"]
    store.datasources.delete("items")
    assert store.datasources.list() == []


def test_preview_rows_and_types(store: Store, pg: Any) -> None:
    store.datasources.create("items", "pg", table="items")
    p = store.datasources.test("items")
    assert p.ok and p.columns[:3] == [("id", "int32"), ("name", "string"), ("price", "decimal128(10, 2)")]
    assert [r[0] for r in p.rows] == [1, 2, 3] and p.rows[0][2] == "1.50"
    store.datasources.create("q", "pg", query="SELECT 1 AS one")
    assert store.datasources.test("q").rows == [[1]]


def test_no_secret_in_any_stored_byte_or_log(store: Store, pg: Any, postgres_server: Any,
                                             monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store.datasources.create("items", "pg", table="items")
    Dataset.sync_datasource("items", "items", store=store)
    sql(pg, "UPDATE items SET name = 'kiwi' WHERE id = 1")
    Dataset.sync_datasource("items", "items", store=store)
    store.datasources.test("items")
    monkeypatch.setenv("PGPASSWORD", "wrong-" + postgres_server.info["password"])
    with pytest.raises(ConnectorError):
        Dataset.sync_datasource("items", "items", store=store)
    password = postgres_server.info["password"].encode()
    files = [p for p in Path(store.url).rglob("*") if p.is_file()]
    assert len(files) > 5
    for p in files:
        assert password not in p.read_bytes(), p
    assert postgres_server.info["password"] not in caplog.text
