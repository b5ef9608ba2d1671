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
