"""The create / list / test / delete verbs every kind of named record shares (cli/records.py),
run as the installed `dagstore`: connectors and datasources on a real SQLite file, exporters
and export methods, a taken name, and a bad record skipped with a warning naming it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from test_cli import dag, fails


def test_the_four_verbs_of_each_kind(tmp_path: Path) -> None:
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x INTEGER)")
        c.execute("INSERT INTO t VALUES (7)")
    out = dag("connector", "create", "wh", f"sql, sqlite:///{db}").out
    assert out.strip() == f"created connector wh (sql, sqlite:///{db})"
    fails("connector", "create", "wh", f"sql, sqlite:///{db}", message="connector 'wh' already exists")
    assert dag("connector", "test", "wh").out.startswith("ok: ")
    dag("connector", "create", "gone", f"sql, sqlite:///{tmp_path}/missing.db")
    assert dag("connector", "test", "gone", code=1).out.startswith("failed: ")
    assert dag("--json", "connector", "test", "gone", code=1).json()["ok"] is False

    dag("datasource", "create", "rows", "--connector", "wh", "--table", "t")
    preview = dag("datasource", "test", "rows").out.splitlines()
    assert preview[0].startswith("ok: ") and preview[2].strip() == "7"
    dag("exporter", "create", "back", "--connector", "wh", "--table", "t2")
    dag("export-method", "create", "hook", "post, http://127.0.0.1:9/x")
    for group, name in (("connector", "wh"), ("datasource", "rows"), ("exporter", "back"), ("export-method", "hook")):
        assert name in dag(group, "list").out
        assert name in [d["name"] for d in dag("--json", group, "list").json()]
    for group, name, noun in (("datasource", "rows", "datasource"), ("exporter", "back", "exporter"),
                              ("export-method", "hook", "export method")):
        assert dag(group, "delete", name).out.strip() == f"deleted {noun} {name}"
        assert dag(group, "list").out.strip() == f"no {noun}s"
        fails(group, "delete", name, message=f"no {noun} named '{name}'")


def test_a_connector_whose_secret_variable_is_empty_fails_in_one_line(tmp_path: Path) -> None:
    dag("connector", "create", "pg", "sql, postgresql+psycopg://u@127.0.0.1:9/x, password=${DS_EMPTY_PW}")
    r = dag("connector", "test", "pg", code=1, env={**os.environ, "DS_EMPTY_PW": ""})
    assert r.out.strip() == "failed: connector 'pg': ${DS_EMPTY_PW} is set but empty in the environment", r
    assert r.err.strip() == ""


def test_a_bad_connector_record_hides_no_other(tmp_path: Path) -> None:
    dag("connector", "create", "wh", f"sql, sqlite:///{tmp_path}/wh.db")
    store = Path(os.environ["DAGSTORE_URL"])
    (store / "connectors" / "broken.json").write_text("{not json")
    r = dag("connector", "list")
    assert "wh" in r.out and "broken" not in r.out
    assert "connectors/broken.json" in r.err
    fails("connector", "test", "broken", message="connector record connectors/broken.json is corrupt")
    dag("connector", "delete", "broken")
    assert "connectors/broken.json" not in dag("connector", "list").err


def test_connector_update_and_a_connector_in_use_is_not_deleted(tmp_path: Path) -> None:
    """Edit a connector without deleting it; its datasource follows; deleting it while in use is
    refused naming the users, or forced (issue 20)."""
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    for db, value in ((old, 1), (new, 2)):
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE t (x INTEGER)")
            c.execute("INSERT INTO t VALUES (?)", (value,))
    dag("connector", "create", "wh", f"sql, sqlite:///{old}")
    dag("datasource", "create", "rows", "--connector", "wh", "--table", "t")
    dag("exporter", "create", "back", "--connector", "wh", "--table", "t2")
    assert dag("datasource", "test", "rows").out.splitlines()[2].strip() == "1"
    out = dag("connector", "update", "wh", f"url=sqlite:///{new}").out
    assert out.strip() == f"updated connector wh (sql, sqlite:///{new})"
    assert dag("datasource", "test", "rows").out.splitlines()[2].strip() == "2"  # the datasource follows
    fails("connector", "update", "wh", "url=", message="needs url")
    fails("connector", "update", "nope", "url=x", message="no connector named 'nope'")
    fails("connector", "delete", "wh", message="connector 'wh' is used by datasource rows, exporter back")
    assert "wh" in dag("connector", "list").out
    assert dag("connector", "delete", "wh", "--force").out.strip() == "deleted connector wh"
    assert dag("connector", "list").out.strip() == "no connectors"


def test_gcs_connector_test_is_one_line_without_gcsfs_traceback(tmp_path: Path) -> None:
    """A GCS endpoint answering 503: gcsfs retries (~35 s of its backoff), logs a traceback when it
    gives up, and `connector test` printed it before its one-line failure (issue 20)."""
    import http.server
    import threading

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        dag("connector", "create", "g", f"gcs, gs://bucket/x, storage_options.endpoint_url=http://127.0.0.1:{srv.server_port}, "
            "storage_options.token=anon")
        r = dag("connector", "test", "g", code=1)  # dag() asserts no traceback on stderr
        assert r.err.strip() == "" and r.out.strip().startswith("failed: connector 'g' (gcs, gs://bucket/x): list bucket/x:"), r
        assert len(r.out.strip().splitlines()) == 1
    finally:
        srv.shutdown()
