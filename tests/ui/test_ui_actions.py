"""Pages 7-9 over HTTP: export jobs to their zip, snapshots, selections to the real webhook
receiver and the delivery log, connectors / datasources / export methods / exporters."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile

import pytest
from starlette.testclient import TestClient

from dagstore import Store
from ui_world import World


def csrf(client: TestClient) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/datasets").text)
    assert m
    return m.group(1)


def wait_job(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = client.get(f"/exports/{job_id}.json").json()
        if doc["status"] in ("completed", "failed"):
            return doc
        time.sleep(0.3)
    raise AssertionError(f"export job {job_id} did not finish")


def test_export_dialog_starts_a_job_that_ends_in_a_zip(client: TestClient, world: World) -> None:
    form = client.get(f"/versions/{world.first}/export?split=test")
    assert form.status_code == 200 and '<option selected>JSON</option>' in form.text
    r = client.post(f"/versions/{world.first}/export", follow_redirects=False,
                    data={"csrf_token": csrf(client), "format": "YOLO", "filter_split": "test", "snapshot": "pets-test-http", "include_media": "on"})
    assert r.status_code == 303
    job_id = r.headers["location"].rsplit("/", 1)[1]
    page = client.get(f"/exports/{job_id}").text
    assert f'data-job="{job_id}"' in page and "<progress" in page
    doc = wait_job(client, job_id)
    assert doc["status"] == "completed" and doc["format"] == "YOLO" and doc["filters"]["splits"] == ["test"]
    z = client.get(f"/exports/{job_id}/download")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert "test/img_08.jpg" in names and "test/img_00.jpg" not in names and "export.json" in names
    listing = client.get("/exports.json").json()
    assert job_id in [j["id"] for j in listing["jobs"]] and "pets-test-http" in [s["name"] for s in listing["snapshots"]]
    assert "pets-test-http" in client.get(f"/versions/{world.first}/export").text


def test_export_errors_are_one_line_on_the_dialog_and_change_nothing(client: TestClient, world: World) -> None:
    before = len(client.get("/exports.json?size=200").json()["jobs"])
    r = client.post(f"/versions/{world.first}/export", data={"csrf_token": csrf(client), "format": "NOPE"})
    assert r.status_code == 400 and "unknown export format" in r.text and "Traceback" not in r.text
    r = client.post(f"/versions/{world.first}/export", data={"csrf_token": csrf(client), "format": "COCO", "snapshot": "bad\x01name"})
    assert r.status_code == 400 and 'id="export-error"' in r.text and "invalid snapshot name" in r.text
    assert len(client.get("/exports.json?size=200").json()["jobs"]) == before
    assert client.get("/exports/" + "f" * 32).status_code == 404 and client.get("/exports/../etc").status_code == 404


def test_selection_of_ticked_items_reaches_the_webhook_and_the_log(client: TestClient, world: World, webhook) -> None:
    Store(world.url, cache_dir=world.cache_dir).export_methods.create("ui-hook", f"post, {webhook.url}/hook")
    ids = ["images/img_01.jpg", "images/img_02.jpg"]
    r = client.post(f"/versions/{world.first}/select", data={"csrf_token": csrf(client), "name": "hard cases", "scope": "ticked",
                                                             "ids": ids, "method": "ui-hook", "annotation": '{"note": "x"}'})
    assert r.status_code == 200 and 'id="sent"' in r.text
    got = webhook.delivered()
    assert len(got) == 1
    body = json.loads(got[0]["body"])
    assert body["selection_name"] == "hard cases" and [s["id"] for s in body["sample_ids"]] == ids and body["annotation"] == {"note": "x"}
    log = client.get("/deliveries.json?method=ui-hook").json()["deliveries"]
    assert log[0]["name"] == "hard cases" and log[0]["status"] == "delivered" and log[0]["count"] == 2
    r = client.post(f"/versions/{world.first}/select", data={"csrf_token": csrf(client), "name": "by filter", "scope": "filter",
                                                             "filter_split": "test", "filter_label": "bird", "method": "ui-hook"})
    assert r.status_code == 200
    body = json.loads(webhook.delivered()[-1]["body"])
    assert body["count"] == 3 and {s["id"] for s in body["sample_ids"]} == {"images/img_08.jpg", "images/img_10.jpg", "images/img_11.jpg"}


def test_selection_refusals_are_shown_and_nothing_is_sent(client: TestClient, world: World, webhook) -> None:
    for data, text in (({"name": "x", "scope": "ticked", "method": "ui-hook"}, "nothing selected"),
                       ({"name": "x", "ids": ["no/such.jpg"], "method": "ui-hook"}, "no/such.jpg"),
                       ({"name": "", "ids": ["images/img_01.jpg"], "method": "ui-hook"}, "give the selection a name"),
                       ({"name": "x", "ids": ["images/img_01.jpg"], "method": "nope"}, "nope")):
        r = client.post(f"/versions/{world.first}/select", data={"csrf_token": csrf(client), **data})
        assert r.status_code == 400 and text in r.text, data
    assert webhook.delivered() == []


@pytest.mark.parametrize("slug", ["connectors", "datasources", "export-methods", "exporters"])
def test_admin_lists_answer_html_and_json(client: TestClient, slug: str) -> None:
    assert client.get(f"/{slug}").status_code == 200
    assert isinstance(client.get(f"/{slug}.json").json()["items"], list)


def test_connector_create_test_delete_and_no_literal_secret(client: TestClient, world: World, tmp_path) -> None:
    import sqlite3

    tok = csrf(client)
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    r = client.post("/connectors/create", data={"csrf_token": tok, "name": "lite", "type": "sql", "spec": f"url=sqlite:///{db}"})
    assert r.status_code == 200 and "lite" in [c["name"] for c in client.get("/connectors.json").json()["items"]]
    r = client.post("/connectors/lite/test", data={"csrf_token": tok})
    assert r.status_code == 200 and 'class="ok" id="result"' in r.text
    assert client.post("/connectors/lite/test", data={"csrf_token": tok}, headers={"Accept": "application/json"}).json()["result"]["ok"]
    r = client.post("/connectors/create", data={"csrf_token": tok, "name": "pg", "type": "sql",
                                                 "spec": "url=postgresql+psycopg://u@127.0.0.1:1/db\npassword=hunter2-literal"})
    assert r.status_code == 400 and "literal secret" in r.text and "hunter2-literal" not in r.text
    assert "pg" not in [c["name"] for c in client.get("/connectors.json").json()["items"]]
    r = client.post("/connectors/create", data={"csrf_token": tok, "name": "pg2", "type": "sql",
                                                 "spec": "url=postgresql+psycopg://u@127.0.0.1:1/db\npassword=${UI_TEST_PG_PASSWORD}"})
    assert r.status_code == 200
    r = client.post("/connectors/lite/delete", data={"csrf_token": tok})
    assert r.status_code == 200 and "lite" not in [c["name"] for c in client.get("/connectors.json").json()["items"]]
    client.post("/connectors/pg2/delete", data={"csrf_token": tok})


def test_datasource_pull_and_exporter_run(tmp_path) -> None:
    """On a store of its own: the pull adds a dataset the other tests would see."""
    import sqlite3

    from dagstore.ui import create_app

    client = TestClient(create_app(Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))), base_url="http://127.0.0.1")

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        c.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"item{i}") for i in range(5)])
    tok = csrf(client)
    assert client.post("/connectors/create", data={"csrf_token": tok, "name": "shop", "type": "sql", "spec": f"url=sqlite:///{db}"}).status_code == 200
    assert client.post("/datasources/create", data={"csrf_token": tok, "name": "orders", "connector": "shop", "table": "orders"}).status_code == 200
    t = client.post("/datasources/orders/test", data={"csrf_token": tok}, headers={"Accept": "application/json"}).json()["result"]
    assert t["ok"] and [c[0] for c in t["columns"]] == ["id", "item"]
    r = client.post("/datasources/orders/pull", data={"csrf_token": tok, "project": "shop", "dataset": "orders"})
    assert r.status_code == 200 and "version 1.0.0 of shop/orders" in r.text
    vid = re.search(r"shop/orders \(([0-9a-f]{32})\)", r.text).group(1)
    assert client.post("/exporters/create", data={"csrf_token": tok, "name": "copy", "connector": "shop", "table": "orders_copy",
                                                  "mode": "overwrite"}).status_code == 200
    r = client.post("/exporters/copy/run", data={"csrf_token": tok, "version": vid}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["result"]["message"].startswith("delivered: 5")
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM orders_copy").fetchone()[0] == 5
    for slug, name in (("exporters", "copy"), ("datasources", "orders"), ("connectors", "shop")):
        assert client.post(f"/{slug}/{name}/delete", data={"csrf_token": tok}).status_code == 200


def test_export_method_switches_are_honoured(client: TestClient, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_CREATION_ENABLED", "false")
    page = client.get("/export-methods").text
    assert 'id="creation-off"' in page and 'id="create"' not in page
    r = client.post("/export-methods/create", data={"csrf_token": csrf(client), "name": "m2", "spec": "post, http://127.0.0.1:9/"})
    assert r.status_code == 400 and "creation is disabled" in r.text
