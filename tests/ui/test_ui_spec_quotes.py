"""A connector spec typed into the UI's form as the config file writes it (``key = "value"``):
the value's one pair of quotes goes, so a quoted ``${ENV}`` reference is a reference, not a
literal secret."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from dagstore import Store
from dagstore.ui import create_app


def test_a_quoted_env_reference_is_stored_as_the_reference(tmp_path) -> None:
    client = TestClient(create_app(Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache"))), base_url="http://127.0.0.1")
    m = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/datasets").text)
    assert m
    spec = "url = 'postgresql+psycopg://u@127.0.0.1:1/db'\npassword = \"${UI_TEST_PG_PASSWORD}\""
    r = client.post("/connectors/create", data={"csrf_token": m.group(1), "name": "pg", "type": "sql", "spec": spec})
    assert r.status_code == 200, r.text
    rec = Store(str(tmp_path / "store"), cache_dir=str(tmp_path / "cache")).connectors.get("pg").to_dict()
    assert rec["password"] == "${UI_TEST_PG_PASSWORD}" and rec["url"] == "postgresql+psycopg://u@127.0.0.1:1/db"
    # a literal secret, quoted or not, is still refused and never echoed
    r = client.post("/connectors/create", data={"csrf_token": m.group(1), "name": "pg2", "type": "sql",
                                                 "spec": 'url = "postgresql+psycopg://u@127.0.0.1:1/db"\npassword = "hunter2-literal"'})
    assert r.status_code == 400 and "literal secret" in r.text and "hunter2-literal" not in r.text
