"""An image of more pixels than Pillow's decompression-bomb limit (a satellite or pathology
scan) is legitimate: an import reads its size from the header, never decoding it; only what
decodes pixels (the UI's thumbnail) refuses it, cleanly."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile
from starlette.testclient import TestClient

from dagstore import Dataset, Store
from dagstore.annotations.media import probe, probe_bytes
from annotation_helpers import huge_png, image, write_json

HUGE = {"kind": "image", "width": 30000, "height": 20000, "depth": 3}  # 600 Mpx: over 2 x MAX_IMAGE_PIXELS


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The images Pillow decodes while the test runs."""
    calls: list[Any] = []
    load = ImageFile.ImageFile.load

    def counted(self: Any) -> Any:
        calls.append(self)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return calls


def test_the_probe_reads_a_huge_image_s_size_from_its_header(decoded: list[Any]) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    assert probe_bytes(huge_png(), "scan.png") == HUGE
    assert probe_bytes(huge_png(), "scan") == HUGE  # told by content
    assert probe(io.BytesIO(huge_png()), "scan.png") == HUGE
    assert decoded == [] and Image.MAX_IMAGE_PIXELS == limit


def test_a_png_s_probe_decodes_nothing(decoded: list[Any]) -> None:
    """Pillow's PNG ``getexif`` decodes the whole image to reach chunks after the pixels."""
    out = io.BytesIO()
    Image.new("RGB", (300, 200)).save(out, "PNG")
    assert probe_bytes(out.getvalue(), "a.png") == {"kind": "image", "width": 300, "height": 200, "depth": 3}
    assert decoded == []


def _voc(root: Path) -> Path:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "JPEGImages/huge.png").write_bytes(huge_png())
    image(root / "JPEGImages/ok.jpg", 50, 40)
    (root / "Annotations").mkdir()
    for name in ("huge.png", "ok.jpg"):
        (root / f"Annotations/{name[:-4]}.xml").write_text(
            f"<annotation><filename>{name}</filename><object><name>cat</name>"
            "<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>10</xmax><ymax>12</ymax></bndbox></object></annotation>", encoding="utf-8")
    return root


def _coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "images/huge.png").write_bytes(huge_png())
    image(root / "images/ok.jpg", 50, 40)
    images = [{"id": 1, "file_name": "huge.png", "width": 30000, "height": 20000}, {"id": 2, "file_name": "ok.jpg", "width": 50, "height": 40}]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 3, 8, 9], "area": 72, "iscrowd": 0} for i in (1, 2)]
    write_json(root / "annotations/instances_default.json", {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}]})
    return root


def _folders(root: Path) -> Path:
    (root / "cat").mkdir(parents=True)
    (root / "cat/huge.png").write_bytes(huge_png())
    image(root / "dog/ok.jpg", 50, 40)
    return root


@pytest.mark.parametrize("fmt, make", [("voc", _voc), ("coco", _coco), ("folders", _folders)])
def test_an_import_with_a_huge_image_records_its_true_size(tmp_path: Path, fmt: str, make: Any, decoded: list[Any]) -> None:
    ds = Dataset.create("scans", "p")
    report = ds.import_annotations(make(tmp_path / fmt), fmt, show_progress=False)
    assert report.skipped == [] and report.files_added == 2
    huge = next(p for p in ds.list_files() if p.endswith("huge.png"))
    assert ds.get_annotation(huge)["media"] == HUGE
    assert decoded == []


def test_exports_give_a_huge_image_its_size_and_the_ui_refuses_its_thumbnail(tmp_path: Path) -> None:
    from dagstore.ui import create_app

    ds = Dataset.create("scans", "p")
    ds.import_annotations(_voc(tmp_path / "src"), "voc", show_progress=False)
    ds.finalize(auto_upload=True)
    coco = ds.export("COCO", tmp_path / "coco")
    assert coco.skipped == []
    doc = json.loads(next((tmp_path / "coco/annotations").glob("*.json")).read_text())
    assert sorted((im["file_name"].rsplit("/", 1)[-1], im["width"], im["height"]) for im in doc["images"]) == [
        ("huge.png", 30000, 20000), ("ok.jpg", 50, 40)]
    with TestClient(create_app(Store()), base_url="http://127.0.0.1") as tc:
        v = f"/versions/{ds.id}"
        thumb = tc.get(f"{v}/thumb", params={"path": "huge.png"})
        assert thumb.status_code == 422 and "too many pixels" in thumb.text
        assert tc.get(f"{v}/thumb", params={"path": "ok.jpg"}).status_code == 200
        assert tc.get(f"{v}/grid").status_code == 200


def test_a_huge_image_without_an_extension_is_told_by_its_header_in_the_ui(tmp_path: Path) -> None:
    from dagstore.ui import create_app

    root = tmp_path / "src"
    (root / "cat").mkdir(parents=True)
    (root / "cat/scan0001").write_bytes(huge_png())
    image(root / "dog/ok.jpg", 50, 40)
    ds = Dataset.create("scans", "p")
    ds.import_annotations(root, "folders", show_progress=False)
    ds.finalize(auto_upload=True)
    assert ds.get_annotation("cat/scan0001")["media"] == HUGE
    with TestClient(create_app(Store()), base_url="http://127.0.0.1") as tc:
        raw = tc.get(f"/versions/{ds.id}/raw", params={"path": "cat/scan0001"})
        assert raw.headers["content-type"] == "image/png" and raw.headers["content-disposition"].startswith("inline")
