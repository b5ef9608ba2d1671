"""The export-method, select and deliveries verbs, run as the installed `dagstore` against the
real webhook receiver: a method from the environment, a selection, the delivery log."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dagstore import Dataset
from helpers import write_tree
from servers import closed_port
from test_cli import dag, fails


@pytest.fixture
def version(tmp_path: Path) -> Dataset:
    src = write_tree(tmp_path / "src", {"train/cat/001.jpg": "c", "train/dog/007.jpg": "d", "val/x.jpg": "x"})
    ds = Dataset.create(dataset_name="pets", dataset_project="vision")
    ds.add_files(src)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_env_method_select_and_log(version, webhook, monkeypatch):
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_my_post_export_method1", f"post, {webhook.url}/export")
    listed = dag("export-method", "list", "--json").json()
    assert [(m["name"], m["source"]) for m in listed] == [("my_post_export_method1", "env")]
    out = dag("select", "--method", "my_post_export_method1", "--name", "hard negatives",
              "--ids", "train/cat/001.jpg", "train/dog/007.jpg", "--annotation", '{"type": "range", "min": 0.2}',
              version.id)
    assert out.last.startswith("delivered: selection 'hard negatives'")
    body = json.loads(webhook.requests()[0]["body"])
    assert [s["id"] for s in body["sample_ids"]] == ["train/cat/001.jpg", "train/dog/007.jpg"]
    assert body["annotation"] == {"type": "range", "min": 0.2}
    log = dag("deliveries", "--json").json()
    assert [(d["method"], d["status"], d["count"]) for d in log] == [("my_post_export_method1", "delivered", 2)]
    human = dag("deliveries", "--method", "my_post_export_method1", "--id", version.id)
    assert "delivered" in human.out and "hard negatives" in human.out


def test_select_by_filter_keeps_the_version_argument(version, webhook, monkeypatch):
    """`select … --filter splits=train VERSION`: VERSION was swallowed into the filter (issue 20)."""
    monkeypatch.setenv("DAGSTORE_EXPORT_METHOD_hook", f"post, {webhook.url}/export")
    out = dag("select", "--method", "hook", "--name", "cats", "--filter", "wildcard=train/*", version.id)
    assert out.last.startswith("delivered: selection 'cats'")
    body = json.loads(webhook.requests()[-1]["body"])
    assert [s["id"] for s in body["sample_ids"]] == ["train/cat/001.jpg", "train/dog/007.jpg"]


def test_create_test_delete_and_errors(version, webhook, monkeypatch):
    dag("export-method", "create", "hook", f"post, {webhook.url}/x, retries=0")
    assert dag("export-method", "test", "hook").out.startswith("ok:")
    dag("export-method", "create", "down", f"post, http://127.0.0.1:{closed_port()}/x, timeout=1")
    assert dag("export-method", "test", "down", code=1).out.startswith("failed:")
    fails("export-method", "create", "bad", "post", message="post needs a URL")
    fails("export-method", "create", "leak", f"post, {webhook.url}/x, header.Authorization=Bearer lit-secret",
          message="literal secret")
    fails("select", "--method", "hook", "--name", "s", "--ids", "nope.jpg", "--", version.id, message="not in version")
    webhook.plan([404])
    r = fails("select", "--method", "hook", "--name", "s", "--ids", "val/x.jpg", "--", version.id, message="answered 404")
    assert "lit-secret" not in r.err
    assert [d["status"] for d in dag("deliveries", "--json").json()] == ["failed", "failed"]
    monkeypatch.setenv("DAGSTORE_EXPORT_METHODS_DELETION_ENABLED", "false")
    fails("export-method", "delete", "hook", message="deletion is disabled")
    monkeypatch.delenv("DAGSTORE_EXPORT_METHODS_DELETION_ENABLED")
    dag("export-method", "delete", "hook")
    assert [m["name"] for m in dag("export-method", "list", "--json").json()] == ["down"]
    fails("select", "--method", "down", "--name", "s", version.id, code=2, message="give --ids or --filter")


def test_header_reference_resolved_at_send_time(version, webhook, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok-from-env")
    dag("export-method", "create", "auth_hook", f"post, {webhook.url}/x, header.Authorization=Bearer ${{HOOK_TOKEN}}")
    dag("select", "-m", "auth_hook", "-n", "s", "--ids", "val/x.jpg", "--", version.id, env=dict(os.environ))
    assert webhook.requests()[0]["headers"]["Authorization"] == "Bearer tok-from-env"
    shown = dag("export-method", "list").out
    assert "tok-from-env" not in shown


def test_export_annotation_verb_and_where_methods_come_from(version, webhook, monkeypatch, tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(f"[EXPORT_METHODS_LIST]\nMy_PostHTTP_export_method1 = post, {webhook.url}/ann\n")
    monkeypatch.setenv("DAGSTORE_DEBIAI_CONFIG", str(ini))
    monkeypatch.setenv("DEBIAI_EXPORT_METHOD_debiai_env", f"post, {webhook.url}/e")
    rows = dag("export-method", "list").out.splitlines()
    assert any(r.split()[0] == "My_PostHTTP_export_method1" and r.split()[-1] == "debiai-config" for r in rows), rows
    assert any(r.split()[0] == "debiai_env" and r.split()[-1] == "debiai-env" for r in rows), rows
    out = dag("export-annotation", "--method", "My_PostHTTP_export_method1", "--name", "region",
              "--annotation", '{"type": "box", "x": [0.1, 0.5]}', version.id)
    assert out.last.startswith("delivered: annotation 'region'")
    body = json.loads(webhook.requests()[-1]["body"])
    assert body["annotation"] == {"type": "box", "x": [0.1, 0.5]} and body["annotation_name"] == "region"
    fails("export-annotation", "--method", "My_PostHTTP_export_method1", "--name", "x", "--annotation", "{bad", version.id,
          code=2, message="--annotation is not valid JSON")
