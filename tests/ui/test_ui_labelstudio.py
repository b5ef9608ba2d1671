"""Label Studio's export API on `dagstore ui` (a real subprocess server): the Label Studio
SDK's own client creates, polls, converts and downloads a snapshot; plain requests as curl
would send them; errors in Label Studio's JSON shape."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
import requests
from label_studio_sdk.client import LabelStudio

from dagstore.ui.catalog import project_id
from ui_server import Running
from ui_world import World

API_KEY = "any-key-is-accepted-on-loopback-without-a-server-token"


@pytest.fixture(scope="module")
def ls(ui_server: Running) -> LabelStudio:
    return LabelStudio(base_url=ui_server.url, api_key=API_KEY)


def pets() -> int:
    return project_id("vision", "pets")


def test_sdk_lists_datasets_as_projects(ls: LabelStudio, world: World) -> None:
    projects = list(ls.projects.list())
    assert {p.title for p in projects} == {"vision/pets", "text/logs"}
    p = next(p for p in projects if p.title == "vision/pets")
    assert p.id == pets() and p.dagstore_version_id == world.child  # type: ignore[attr-defined]


def test_sdk_creates_polls_converts_and_downloads_a_snapshot(ls: LabelStudio, world: World) -> None:
    exp = ls.projects.exports.create(pets(), title="sdk snapshot", task_filter_options={"annotated": "only"})
    assert exp.id and exp.status in ("created", "in_progress", "completed")
    deadline = time.monotonic() + 120  # each job is a worker process: slow to start on a loaded machine
    while (got := ls.projects.exports.get(pets(), export_pk=exp.id)).status != "completed":
        assert got.status != "failed" and time.monotonic() < deadline
        time.sleep(0.5)
    assert got.title == "sdk snapshot" and got.converted_formats[0].export_type == "JSON"
    body = b"".join(ls.projects.exports.download(pets(), export_pk=exp.id, export_type="JSON"))
    import json

    tasks = json.loads(body)
    assert len(tasks) == 12 and all(t["annotations"] for t in tasks)  # annotated only: the 12 images
    conv = ls.projects.exports.convert(pets(), export_pk=exp.id, export_type="COCO")
    assert conv.export_type == "COCO"
    deadline = time.monotonic() + 120  # its own job, its own deadline
    while next(c for c in ls.projects.exports.get(pets(), export_pk=exp.id).converted_formats if c.export_type == "COCO").status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    z = zipfile.ZipFile(io.BytesIO(b"".join(ls.projects.exports.download(pets(), export_pk=exp.id, export_type="COCO"))))
    assert any(n.startswith("annotations/") for n in z.namelist())
    assert exp.id in [e.id for e in ls.projects.exports.list(pets())]
    ls.projects.exports.delete(pets(), export_pk=exp.id)
    assert exp.id not in [e.id for e in ls.projects.exports.list(pets())]


def test_sdk_easy_export_and_as_json(ls: LabelStudio) -> None:
    tasks = ls.projects.exports.as_json(pets())
    assert len(tasks) == 16  # download_all_tasks=true: every file is a task
    body = b"".join(ls.projects.exports.download_sync(pets(), export_type="JSON_MIN", download_all_tasks=False))
    import json

    assert len(json.loads(body)) == 12
    names = [f["name"] for f in ls.projects.exports.list_formats(pets())]
    assert {"JSON", "JSON_MIN", "CSV", "COCO", "YOLO", "VOC", "CONLL2003", "ASR_MANIFEST", "BRUSH_TO_PNG"} <= set(names)


def test_plain_requests_as_curl_sends_them(ui_server: Running) -> None:
    h = {"Authorization": f"Token {API_KEY}"}
    assert requests.get(f"{ui_server.url}/api/version", headers=h, timeout=10).json()["edition"] == "Community"
    assert requests.get(f"{ui_server.url}/api/version/", headers=h, timeout=10).json()["release"]
    one = requests.get(f"{ui_server.url}/api/projects/{pets()}/", headers=h, timeout=10).json()
    assert one["id"] == pets() and one["title"] == "vision/pets" and one["task_number"] == 16
    page = requests.get(f"{ui_server.url}/api/projects/?page_size=1", headers=h, timeout=10).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"].endswith("page=2") and page["previous"] is None
    r = requests.get(f"{ui_server.url}/api/projects/{pets()}/export?exportType=CSV&download_all_tasks=true", headers=h, timeout=60)
    assert r.status_code == 200 and r.text.splitlines()[0].startswith("filename")
    r = requests.post(f"{ui_server.url}/api/projects/{pets()}/exports/", json={"title": "curl"}, headers=h, timeout=30)
    assert r.status_code == 201 and r.json()["title"] == "curl"
    pk = r.json()["id"]
    assert requests.delete(f"{ui_server.url}/api/projects/{pets()}/exports/{pk}", headers=h, timeout=10).status_code == 204


def test_api_errors_are_json(ui_server: Running) -> None:
    for url in ("/api/projects/1", f"/api/projects/{pets()}/exports/999", f"/api/projects/{pets()}/export?exportType=NOPE"):
        r = requests.get(ui_server.url + url, timeout=30)
        assert r.status_code in (400, 404) and "detail" in r.json(), url
    r = requests.post(f"{ui_server.url}/api/projects/{pets()}/exports/", data="title=x",
                      headers={"Content-Type": "text/plain"}, timeout=10)  # a cross-site form could send this: refused
    assert r.status_code == 403
