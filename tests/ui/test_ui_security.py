"""Who may use the UI and what it may show: tokens, loopback Host names, CSRF, read-only,
refusing a public address without a token, damaged objects, and no credential in any
served byte, header or log line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from starlette.testclient import TestClient

from dagstore import Store
from dagstore.ui import create_app
from dagstore.ui.server import UIError, check_bind
from ui_server import DAGSTORE, SECRET, Running, free_port
from ui_world import World

TOKEN = "tok-7Hq2-UI-TOKEN-x91"


def test_a_token_is_needed_on_every_request_when_set(world: World) -> None:
    app = create_app(world.store(), token=TOKEN)
    with TestClient(app, base_url="http://ui.example:8484") as c:  # any Host: the token is the check
        assert c.get("/datasets").status_code == 401
        assert c.get("/api/projects/").status_code == 401 and "detail" in c.get("/api/projects/").json()
        assert c.get("/datasets", headers={"Authorization": "Token wrong"}).status_code == 401
        assert c.get("/datasets", headers={"Authorization": f"Token {TOKEN}"}).status_code == 200
        assert c.get("/static/ui.css").status_code == 401
        r = c.get(f"/datasets?q=pets&token={TOKEN}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/datasets?q=pets"
        assert TOKEN not in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/datasets").status_code == 200  # the cookie now
        # a write with the cookie still needs the CSRF token; with the API token it does not
        assert c.post("/export-methods/create", data={"name": "m", "spec": "post, http://127.0.0.1:9/"}).status_code == 403
        r = c.post(f"/api/projects/{1}/exports/", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404


def test_without_a_token_only_loopback_host_names_are_answered(client: TestClient, world: World) -> None:
    assert client.get("/datasets", headers={"Host": "evil.example"}).status_code == 403  # DNS rebinding
    assert client.get("/datasets", headers={"Host": "localhost:8484"}).status_code == 200


def test_writes_need_the_csrf_token(client: TestClient) -> None:
    data = {"name": "csrf-m", "spec": "post, http://127.0.0.1:9/"}
    assert client.post("/export-methods/create", data=data).status_code == 403
    assert client.post("/export-methods/create", data={**data, "csrf_token": "forged"}).status_code == 403
    assert client.post("/export-methods/create", data=data, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert "csrf-m" not in [m["name"] for m in client.get("/export-methods.json").json()["items"]]


def test_read_only_refuses_every_write_and_shows_no_form(world: World) -> None:
    with TestClient(create_app(world.store(), read_only=True), base_url="http://127.0.0.1") as c:
        tok = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/datasets").text).group(1)
        for url in ("/export-methods/create", f"/versions/{world.first}/export", f"/versions/{world.first}/select",
                    "/connectors/x/delete"):
            assert c.post(url, data={"csrf_token": tok}).status_code == 403, url
        assert c.post("/api/projects/1/exports/", json={}).status_code == 403
        assert c.delete("/api/projects/1/exports/1").status_code == 403
        assert "<form method=\"post\"" not in c.get(f"/versions/{world.first}/grid").text
        assert 'id="create"' not in c.get("/connectors").text and "read-only" in c.get("/datasets").text


def test_a_public_address_needs_a_token(tmp_path: Path, world: World) -> None:
    try:
        check_bind("0.0.0.0", None)
        raise AssertionError("bound without a token")
    except UIError as exc:
        assert "without a token" in str(exc)
    check_bind("0.0.0.0", TOKEN)
    check_bind("::1", None)
    proc = subprocess.run([str(DAGSTORE), "ui", "--host", "0.0.0.0", "--port", str(free_port()), "--store", world.url],
                          capture_output=True, text=True, timeout=120, env={**_env(world), "DAGSTORE_UI_TOKEN": ""})
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and "refusing to serve on 0.0.0.0" in proc.stderr


def test_a_taken_port_is_one_clear_line(ui_server: Running, world: World) -> None:
    port = urlsplit(ui_server.url).port
    proc = subprocess.run([str(DAGSTORE), "ui", "--port", str(port), "--store", world.url], capture_output=True, text=True,
                          timeout=120, env=_env(world))
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr


def _env(world: Any) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "DAGSTORE_CACHE_DIR": world.cache_dir}


def test_a_damaged_pack_is_an_error_on_its_page_only(tmp_path: Path) -> None:
    from ui_world import build

    w = build(tmp_path / "w", str(tmp_path / "w" / "store"))
    for pack in (Path(w.url) / "packs").rglob("*"):
        if pack.is_file():
            pack.chmod(0o644)
            data = bytearray(pack.read_bytes())
            for i in range(len(data)):
                data[i] ^= 0x5A
            pack.write_bytes(bytes(data))
    shutil.rmtree(Path(w.cache_dir) / "blobs", ignore_errors=True)
    with TestClient(create_app(Store(w.url, cache_dir=str(tmp_path / "fresh-cache"))), base_url="http://127.0.0.1") as c:
        r = c.get(f"/versions/{w.first}/preview?path=docs/readme.txt")
        assert r.status_code == 502 and 'id="preview-error"' in r.text and "Traceback" not in r.text
        assert c.get(f"/versions/{w.first}/thumb?path=images/img_01.jpg").status_code == 502
        assert c.get("/datasets").status_code == 200 and c.get(f"/versions/{w.first}/files").status_code == 200
        (Path(w.url) / "versions" / f"{w.other}.json").write_text("{ not json")
        c.app.state.ui.forget_records()
        assert c.get("/datasets").status_code == 200  # the bad record is skipped, the others are listed
        assert c.get(f"/versions/{w.other}").status_code == 502


def crawl(base: str, start: list[str], limit: int = 150) -> list[requests.Response]:
    """Every same-site page reachable from ``start`` (links and images), each fetched once."""
    seen: set[str] = set()
    todo = [urljoin(base, s) for s in start]
    got = []
    while todo and len(seen) < limit:
        url = todo.pop()
        if url in seen or not url.startswith(base):
            continue
        seen.add(url)
        r = requests.get(url, timeout=60)
        got.append(r)
        if "html" in r.headers.get("content-type", ""):
            for link in re.findall(r'(?:href|src)="([^"#]+)"', r.text):
                todo.append(urljoin(url, link.replace("&amp;", "&")))
    return got


def test_no_credential_in_any_served_byte_header_or_log(ui_server: Running, world: World) -> None:
    pages = crawl(ui_server.url, ["/datasets", "/connectors", "/connectors.json", "/api/projects/", "/deliveries", "/exports",
                                  "/export-methods", "/exporters", "/datasources"])
    assert len(pages) > 50
    conn = requests.post(f"{ui_server.url}/connectors/env_pg/test", headers={"X-CSRF-Token": _csrf(ui_server)}, timeout=60)
    pages.append(conn)
    assert "env_pg" in requests.get(f"{ui_server.url}/connectors.json", timeout=10).text
    for r in pages:
        blob = r.content + "".join(f"{k}: {v}\n" for k, v in r.headers.items()).encode()
        assert SECRET.encode() not in blob, r.url
    assert SECRET not in ui_server.log.read_text(errors="replace")


def _csrf(run: Running) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', requests.get(f"{run.url}/datasets", timeout=10).text)
    assert m
    return m.group(1)


def test_previews_can_be_turned_off_per_store_and_per_server(tmp_path: Path) -> None:
    from ui_world import build

    w = build(tmp_path / "w", str(tmp_path / "w" / "store"))
    with TestClient(create_app(w.store(), previews=False), base_url="http://127.0.0.1") as c:
        assert 'id="previews-off"' in c.get(f"/versions/{w.first}/preview?path=docs/readme.txt").text
        assert c.get(f"/versions/{w.first}/thumb?path=images/img_01.jpg").status_code == 403
    proc = subprocess.run([str(DAGSTORE), "--store", w.url, "ui-previews", "off"], capture_output=True, text=True, timeout=120,
                          env=_env(w))
    assert proc.returncode == 0 and "previews off" in proc.stdout
    with TestClient(create_app(w.store()), base_url="http://127.0.0.1") as c:  # every UI on that store
        page = c.get(f"/versions/{w.first}/preview?path=docs/readme.txt").text
        assert 'id="previews-off"' in page and "hello dagstore" not in page
        assert c.get(f"/versions/{w.first}/raw?path=docs/readme.txt").status_code == 403
        assert "/thumb?" not in c.get(f"/versions/{w.first}/grid").text
    subprocess.run([str(DAGSTORE), "--store", w.url, "ui-previews", "on"], check=True, capture_output=True, timeout=120, env=_env(w))
    with TestClient(create_app(w.store()), base_url="http://127.0.0.1") as c:
        assert "hello dagstore" in c.get(f"/versions/{w.first}/preview?path=docs/readme.txt").text
