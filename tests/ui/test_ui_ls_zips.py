"""The zips of the UI's Label Studio API (Easy Export and a snapshot's conversions) are the
export's own zip: fixed timestamps, so two downloads of the same version are the same bytes."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from PIL import Image
from starlette.testclient import TestClient

from dagstore import Dataset, Store
from dagstore.ui import create_app
from dagstore.ui.catalog import project_id


def _dataset(root: Path) -> Dataset:
    for i, label in enumerate(("cat", "dog", "cat")):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32 + i, 24), (i, 2, 3)).save(root / label / f"{i}.jpg")
    ds = Dataset.create("pets", "zips")
    ds.import_annotations(root, "folders", show_progress=False)
    ds.finalize(auto_upload=True)
    return ds


def _twice(tc: TestClient, url: str) -> tuple[bytes, bytes]:
    one = tc.get(url)
    assert one.status_code == 200 and one.headers["content-type"] == "application/zip", one.text
    time.sleep(2.1)  # a zip's timestamps have a two-second resolution
    return one.content, tc.get(url).content


def _dates(data: bytes) -> set[tuple[int, ...]]:
    return {i.date_time for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}


def test_label_studio_api_zips_are_the_same_bytes_twice(tmp_path):
    ds = _dataset(tmp_path / "src")
    pid = project_id("zips", "pets")
    with TestClient(create_app(Store()), base_url="http://127.0.0.1") as tc:
        one, two = _twice(tc, f"/api/projects/{pid}/export?exportType=FOLDERS&download_all_tasks=true&download_resources=true")
        assert one == two and _dates(one) == {(1980, 1, 1, 0, 0, 0)}
        ds.export("FOLDERS", tmp_path / "file.zip")
        assert one == (tmp_path / "file.zip").read_bytes()  # the file export's zip, byte for byte
        assert sorted(zipfile.ZipFile(io.BytesIO(one)).namelist()) == ["export.json", "train/cat/0.jpg", "train/cat/2.jpg", "train/dog/1.jpg"]

        pk = tc.post(f"/api/projects/{pid}/exports/", json={"title": "zips"}).json()["id"]
        assert tc.post(f"/api/projects/{pid}/exports/{pk}/convert", json={"export_type": "YOLO", "download_resources": True}).status_code == 200
        deadline = time.monotonic() + 120  # the conversion is a worker process
        while next(c for c in tc.get(f"/api/projects/{pid}/exports/{pk}").json()["converted_formats"]
                   if c["export_type"] == "YOLO")["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        one, two = _twice(tc, f"/api/projects/{pid}/exports/{pk}/download?exportType=YOLO")
        assert one == two and _dates(one) == {(1980, 1, 1, 0, 0, 0)}
        assert "train/0.jpg" in zipfile.ZipFile(io.BytesIO(one)).namelist()
