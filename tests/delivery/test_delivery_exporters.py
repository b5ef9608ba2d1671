"""Exporters: a version's table into PostgreSQL, SQLite and MariaDB in each mode (atomic
overwrite under concurrent readers), and its files to SFTP, FTP and S3 paths."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dagstore import ConflictError, Dataset, DatasetNotFoundError, Store
from dagstore.connectors import ConnectorRegistry
from dagstore.delivery import DeliveryError, ExportMethodError, ExportMethodNotFoundError, list_deliveries
from dagstore.delivery.exporters import Exporters
from servers import wait_until


def _parquet(path: Path, n: int, tag: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": pa.array(range(n), pa.int64()), "tag": [tag] * n,
                             "score": [i / 7 for i in range(n)], "note": ["ünï, \"q\"\n" if i % 3 else None for i in range(n)]}),
                   path)
    return path


def _version(tmp: Path, name: str, files: dict[str, Any]) -> Dataset:
    src = tmp / f"src-{name}-{time.time_ns()}"
    for rel, content in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            _parquet(p, *content)
        else:
            p.write_bytes(content.encode() if isinstance(content, str) else content)
    ds = Dataset.create(dataset_name=name, dataset_project="warehouse")
    ds.add_files(str(src))
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


@pytest.fixture
def store() -> Store:
    return Store.default()


# ---------------------------------------------------------------- SQL servers
@pytest.fixture(params=["postgres", "sqlite", "mariadb"])
def sql(request: pytest.FixtureRequest, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """(connector name, engine to check with) for each SQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wh.db'}"
        sa.create_engine(url).connect().close()  # the file must exist (the connector refuses a missing one)
        ConnectorRegistry(store).create("wh", "sql", url=url)
        eng = sa.create_engine(url)
    else:
        srv = request.getfixturevalue(f"{request.param}_server")
        monkeypatch.setenv("TEST_WH_PASSWORD", srv.info["password"])
        ConnectorRegistry(store).create("wh", "sql", url=srv.info["url"], password="${TEST_WH_PASSWORD}")
        eng = sa.create_engine(sa.engine.make_url(srv.info["url"]).set(password=srv.info["password"]))
    with eng.begin() as c:  # a clean database for each test
        for t in sa.inspect(c).get_table_names():
            c.execute(sa.text(f"DROP TABLE {c.dialect.identifier_preparer.quote(t)}"))
    yield "wh", eng
    eng.dispose()


def _rows(eng: Any, table: str) -> list[tuple]:
    with eng.connect() as c:
        q = c.dialect.identifier_preparer.quote(table)
        return [tuple(r) for r in c.execute(sa.text(f"SELECT id, tag, score, note FROM {q} ORDER BY id")).all()]


def _tables(eng: Any) -> list[str]:
    with eng.connect() as c:
        return sorted(sa.inspect(c).get_table_names())


def test_overwrite_replaces_the_table(store, sql, tmp_path):
    conn, eng = sql
    v1 = _version(tmp_path, "t", {"data.parquet": (5, "v1")})
    v2 = _version(tmp_path, "t", {"data.parquet": (3, "v2")})
    ex = Exporters(store)
    ex.create("to_wh", conn, table="items", mode="overwrite")
    d1 = ex.run("to_wh", v1.id)
    assert (d1.status, d1.count, d1.name, d1.kind) == ("delivered", 5, "items", "exporter")
    assert [r[1] for r in _rows(eng, "items")] == ["v1"] * 5
    ex.run("to_wh", v2.id)
    rows = _rows(eng, "items")
    assert [r[:2] for r in rows] == [(0, "v2"), (1, "v2"), (2, "v2")]
    assert rows[1][3] == 'ünï, "q"\n' and rows[0][3] is None and abs(rows[2][2] - 2 / 7) < 1e-9
    assert _tables(eng) == ["items"]  # no staging or old table left
    assert [d.dataset_id for d in list_deliveries(store, method="to_wh")] == [v2.id, v1.id]


def test_overwrite_is_atomic_for_concurrent_readers(store, sql, tmp_path):
    conn, eng = sql
    if eng.dialect.name == "sqlite":
        eng = sa.create_engine(eng.url, connect_args={"timeout": 30})
    old_n, new_n = 20_000, 30_000
    v1 = _version(tmp_path, "t", {"data.parquet": (old_n, "old")})
    v2 = _version(tmp_path, "t", {"data.parquet": (new_n, "new")})
    ex = Exporters(store)
    ex.create("to_wh", conn, table="items", mode="overwrite")
    ex.run("to_wh", v1.id)
    seen: list[tuple] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                with eng.connect() as c:
                    seen.append(tuple(c.execute(sa.text("SELECT count(*), min(tag), max(tag) FROM items")).one()))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        ex.run("to_wh", v2.id)
        # until a reader has seen the new table (a fixed sleep can be too short on a loaded machine)
        wait_until(lambda: (new_n, "new", "new") in seen or errors or not any(t.is_alive() for t in threads), 60,
                   0.01, "a reader to see the new table")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[0]
    assert set(seen) <= {(old_n, "old", "old"), (new_n, "new", "new")} and (new_n, "new", "new") in seen


def test_failed_overwrite_changes_nothing(store, sql, tmp_path, monkeypatch):
    conn, eng = sql
    v1 = _version(tmp_path, "t", {"data.parquet": (4, "v1")})
    # a CSV whose types are inferred from its first block; a later block breaks them mid-load
    monkeypatch.setattr("dagstore.delivery.rowfiles._CSV_BLOCK", 1 << 16)
    good = "id,tag,score,note\n" + "".join(f"{i},x,0.5,n\n" for i in range(50_000))
    bad = _version(tmp_path, "t", {"data.csv": good + "not-a-number,x,0.5,n\n"})
    ex = Exporters(store)
    ex.create("to_wh", conn, table="items", mode="overwrite")
    ex.run("to_wh", v1.id)
    with pytest.raises(DeliveryError, match="cannot read data.csv"):
        ex.run("to_wh", bad.id)
    assert [r[1] for r in _rows(eng, "items")] == ["v1"] * 4
    assert _tables(eng) == ["items"]
    assert list_deliveries(store, method="to_wh", limit=1)[0].status == "failed"


def test_timestamp_mode_makes_a_new_table_each_time(store, sql, tmp_path):
    conn, eng = sql
    v1 = _version(tmp_path, "t", {"data.parquet": (2, "v1")})
    ex = Exporters(store)
    ex.create("snap", conn, table="items", mode="timestamp")
    day = time.strftime("%Y%m%d", time.gmtime())
    names = [ex.run("snap", v1.id).name for _ in range(3)]
    days = {day, time.strftime("%Y%m%d", time.gmtime())}  # the runs may cross midnight
    assert len(set(names)) == 3 and _tables(eng) == sorted(names)
    for n in names:
        assert re.fullmatch(r"items_\d{8}_\d{6}(_\d+)?", n), n
        assert len(_rows(eng, n)) == 2
    assert all(n.split("_")[1] in days for n in names)


def test_timestamp_names_fit_the_identifier_limit(store, sql, tmp_path):
    conn, eng = sql
    limit = {"postgresql": 63, "mysql": 64, "mariadb": 64}.get(eng.dialect.name, 128)
    long = "t" * (limit - 3)
    v1 = _version(tmp_path, "t", {"data.parquet": (1, "v1")})
    ex = Exporters(store)
    ex.create("snap", conn, table=long, mode="timestamp")
    a, b = ex.run("snap", v1.id).name, ex.run("snap", v1.id).name
    assert a != b and len(a) <= limit and len(b) <= limit
    assert set(_tables(eng)) == {a, b}


def test_append_and_column_mismatch(store, sql, tmp_path):
    conn, eng = sql
    v1 = _version(tmp_path, "t", {"data.parquet": (3, "v1")})
    other = _version(tmp_path, "t", {"data.csv": "a,b\n1,2\n"})
    ex = Exporters(store)
    ex.create("add", conn, table="items", mode="append")
    ex.run("add", v1.id)
    ex.run("add", v1.id)
    assert len(_rows(eng, "items")) == 6
    with pytest.raises(DeliveryError, match="columns"):
        ex.run("add", other.id)
    assert len(_rows(eng, "items")) == 6


def test_safe_mode_refuses_an_existing_table(store, sql, tmp_path):
    conn, eng = sql
    v1 = _version(tmp_path, "t", {"data.parquet": (3, "v1")})
    v2 = _version(tmp_path, "t", {"data.parquet": (1, "v2")})
    ex = Exporters(store)
    ex.create("once", conn, table="items", mode="safe")
    ex.run("once", v1.id)
    with pytest.raises(DeliveryError, match="exists"):
        ex.run("once", v2.id)
    assert [r[1] for r in _rows(eng, "items")] == ["v1"] * 3
    assert _tables(eng) == ["items"]


def test_several_tabular_files_need_dataset_path(store, sql, tmp_path):
    conn, eng = sql
    v = _version(tmp_path, "t", {"a/one.parquet": (2, "one"), "b/two.csv": "id,tag,score,note\n7,two,0.1,x\n",
                                 "readme.txt": "hi"})
    ex = Exporters(store)
    ex.create("to_wh", conn, table="items")
    with pytest.raises(DeliveryError, match="2 tabular files.*give dataset_path"):
        ex.run("to_wh", v.id)
    assert _tables(eng) == []
    ex.run("to_wh", v.id, dataset_path="b/two.csv")
    assert _rows(eng, "items") == [(7, "two", 0.1, "x")]
    with pytest.raises(DeliveryError, match="not a tabular file"):
        ex.run("to_wh", v.id, dataset_path="readme.txt")


def test_exporter_test_and_run_agree_on_a_missing_sqlite_file(store, tmp_path):
    """`exporter test` said a missing SQLite file fails while `exporter run` creates it (issue 20)."""
    v = _version(tmp_path, "t", {"data.parquet": (2, "v1")})
    ConnectorRegistry(store).create("lite", "sql", url=f"sqlite:///{tmp_path / 'new.db'}")
    ConnectorRegistry(store).create("nodir", "sql", url=f"sqlite:///{tmp_path / 'missing-dir' / 'new.db'}")
    ex = Exporters(store)
    ex.create("to_lite", "lite", table="items")
    ex.create("to_nodir", "nodir", table="items")
    res = ex.test("to_lite")
    assert res.ok and "does not exist yet; run creates it" in res.message, res
    assert not (tmp_path / "new.db").exists()  # testing wrote nothing
    ex.run("to_lite", v.id)
    assert _rows(sa.create_engine(f"sqlite:///{tmp_path / 'new.db'}"), "items")
    assert ex.test("to_lite").ok
    res = ex.test("to_nodir")
    assert not res.ok and "cannot be created" in res.message, res
    with pytest.raises(DeliveryError):
        ex.run("to_nodir", v.id)


# ---------------------------------------------------------------- registry and errors
def test_exporter_registry(store, tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    sa.create_engine(url).connect().close()
    ConnectorRegistry(store).create("lite", "sql", url=url)
    ex = Exporters(store)
    ex.create("b", "lite", table="t")
    ex.create("a", "lite", table="t", mode="append")
    assert [e.name for e in ex.list()] == ["a", "b"] and ex.get("a").mode == "append"
    assert Exporters(Store(store.url)).get("b").table == "t"  # stored: every host sees it
    with pytest.raises(ConflictError):
        ex.create("a", "lite", table="t")
    for kw, words in [({"table": "t", "mode": "replace"}, "unknown mode"), ({}, "give a table"),
                      ({"table": "t", "path": "/p"}, "give a table"), ({"path": "/p"}, "needs a file-server")]:
        with pytest.raises(ExportMethodError, match=words):
            ex.create("c", "lite", **kw)
    with pytest.raises(Exception, match="no connector named 'ghost'"):
        ex.create("c", "ghost", table="t")
    res = ex.test("a")
    assert res.ok and "does not exist yet" in res.message
    ex.delete("a")
    with pytest.raises(ExportMethodNotFoundError):
        ex.get("a")
    with pytest.raises(DatasetNotFoundError):
        ex.run("b", "0" * 32)


def test_secrets_stay_out_of_the_store_and_errors(store, postgres_server, tmp_path, monkeypatch):
    pw = postgres_server.info["password"]
    monkeypatch.setenv("TEST_WH_PASSWORD", "wrong-" + pw)
    ConnectorRegistry(store).create("wh", "sql", url=postgres_server.info["url"], password="${TEST_WH_PASSWORD}")
    v = _version(tmp_path, "t", {"data.parquet": (2, "v1")})
    ex = Exporters(store)
    ex.create("to_wh", "wh", table="items")
    with pytest.raises(DeliveryError) as info:
        ex.run("to_wh", v.id)
    assert "password authentication failed" in str(info.value) and "wrong-" not in str(info.value)
    everything = b"".join(store.backend.read(k) for k in store.backend.list(""))
    assert pw.encode() not in everything and b"wrong-" not in everything


# ---------------------------------------------------------------- file servers and object stores
@pytest.fixture(params=["sftp", "ftp", "s3"])
def files(request: pytest.FixtureRequest, store: Store, monkeypatch: pytest.MonkeyPatch) -> Any:
    """(connector name, fsspec filesystem to check with, root path on it)."""
    import fsspec

    if request.param == "sftp":
        i = request.getfixturevalue("sshd_server").info
        ConnectorRegistry(store).create("fs", "sftp", host=i["host"], port=i["port"], username=i["username"],
                                        key_file=i["key_file"], root=i["root"])
        from fsspec.implementations.sftp import SFTPFileSystem
        fs = SFTPFileSystem(host=i["host"], port=i["port"], username=i["username"], key_filename=i["key_file"],
                            look_for_keys=False, allow_agent=False, skip_instance_cache=True)
        root = i["root"]
    elif request.param == "ftp":
        i = request.getfixturevalue("ftp_server").info
        monkeypatch.setenv("TEST_FTP_PW", i["password"])
        ConnectorRegistry(store).create("fs", "ftp", url=f"ftp://{i['username']}@127.0.0.1:{i['port']}/",
                                        password="${TEST_FTP_PW}")
        fs = fsspec.filesystem("ftp", host="127.0.0.1", port=i["port"], username=i["username"],
                               password=i["password"], skip_instance_cache=True)
        root = "/"
    else:
        srv = request.getfixturevalue("s3_server")
        url = srv.new_root("out")
        opts = {}
        for k, v in srv.storage_options.items():
            if k in ("key", "secret"):
                monkeypatch.setenv(f"TEST_S3_{k.upper()}", str(v))
                opts[k] = f"${{TEST_S3_{k.upper()}}}"
            else:
                opts[k] = v
        ConnectorRegistry(store).create("fs", "s3", url=url, storage_options=opts)
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **srv.storage_options)
        root = url.split("://", 1)[1]
    run = f"{time.time_ns()}"
    yield "fs", fs, f"{root.rstrip('/')}/{run}", run
    fs.invalidate_cache()
    if fs.exists(f"{root.rstrip('/')}/{run}"):
        fs.rm(f"{root.rstrip('/')}/{run}", recursive=True)


def _listing(fs: Any, base: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    if not fs.exists(base):
        return {}
    return {p[len(base.rstrip("/")) + 1:]: fs.cat_file(p) for p in sorted(fs.find(base))}


def test_files_overwrite_removes_old_files(store, files, tmp_path):
    conn, fs, base, run = files
    v1 = _version(tmp_path, "f", {"a.txt": "one", "sub/b.txt": "bee", "gone.txt": "x"})
    v2 = _version(tmp_path, "f", {"a.txt": "two", "sub/c.txt": "sea"})
    ex = Exporters(store)
    ex.create("out", conn, path=f"{run}/export", mode="overwrite")
    d = ex.run("out", v1.id)
    assert d.count == 3 and d.status == "delivered"
    assert _listing(fs, f"{base}/export") == {"a.txt": b"one", "gone.txt": b"x", "sub/b.txt": b"bee"}
    ex.run("out", v2.id)
    assert _listing(fs, f"{base}/export") == {"a.txt": b"two", "sub/c.txt": b"sea"}
    fs.invalidate_cache()
    assert [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(base, detail=False)] == ["export"]  # no temp folder left


def test_files_timestamp_append_safe(store, files, tmp_path):
    conn, fs, base, run = files
    v1 = _version(tmp_path, "f", {"a.txt": "one"})
    v2 = _version(tmp_path, "f", {"b.txt": "two"})
    ex = Exporters(store)
    ex.create("ts", conn, path=f"{run}/snap", mode="timestamp")
    ex.create("add", conn, path=f"{run}/all", mode="append")
    ex.create("once", conn, path=f"{run}/once", mode="safe")
    n1, n2 = ex.run("ts", v1.id).name, ex.run("ts", v2.id).name
    assert n1 != n2 and re.search(r"/snap_\d{8}_\d{6}(_\d+)?$", n1) and re.search(r"/snap_\d{8}_\d{6}(_\d+)?$", n2)
    assert _listing(fs, n1) == {"a.txt": b"one"} and _listing(fs, n2) == {"b.txt": b"two"}
    ex.run("add", v1.id)
    ex.run("add", v2.id)
    assert _listing(fs, f"{base}/all") == {"a.txt": b"one", "b.txt": b"two"}
    ex.run("once", v1.id)
    with pytest.raises(DeliveryError, match="exists"):
        ex.run("once", v2.id)
    assert _listing(fs, f"{base}/once") == {"a.txt": b"one"}


def test_files_path_cannot_escape_the_root(store, files, tmp_path):
    conn, fs, base, run = files
    v1 = _version(tmp_path, "f", {"a.txt": "one"})
    ex = Exporters(store)
    for bad in ("../../etc/x", f"{run}/../../x", "a/..\\..\\b"):
        with pytest.raises(ExportMethodError, match="below the connector's root"):
            ex.create("up", conn, path=bad)
    assert ex.list() == []
    ex.create("up", conn, path=f"/{run}/abs")  # a leading / is the connector's root
    assert ex.run("up", v1.id).name.endswith(f"{run}/abs")
    assert _listing(fs, f"{base}/abs") == {"a.txt": b"one"}


def test_files_export_format(store, files, tmp_path):
    conn, fs, base, run = files
    v1 = _version(tmp_path, "f", {"a.txt": "one"})
    ex = Exporters(store)
    ex.create("ls", conn, path=f"{run}/ls", mode="overwrite")
    d = ex.run("ls", v1.id, export_format="JSON")
    got = _listing(fs, f"{base}/ls")
    assert set(got) == {"export.json", "tasks.json"} and d.count == 2
    import json as _json
    assert isinstance(_json.loads(got["tasks.json"]), list)
    with pytest.raises(DeliveryError, match="(?i)unknown|format"):
        ex.run("ls", v1.id, export_format="NOT_A_FORMAT")
    assert set(_listing(fs, f"{base}/ls")) == {"export.json", "tasks.json"}
