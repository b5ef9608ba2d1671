"""Images whose names have no extension (or one that names no media kind) are told by their
content: an import records their size, the exports that need it have it, and the UI shows them."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from dagstore import Dataset, Store
from dagstore.annotations.media import probe, probe_bytes
from annotation_helpers import image


def _bytes(fmt: str, size: tuple[int, int] = (40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
@pytest.mark.parametrize("name", ["scan", "scan.0001", "dir.v2/scan"])
def test_an_image_without_a_known_extension_is_probed_by_content(fmt, name):
    data = _bytes(fmt)
    want = {"kind": "image", "width": 40, "height": 20, "depth": 3}
    assert probe_bytes(data, name) == want
    assert probe(io.BytesIO(data), name) == want


def test_other_files_without_an_extension_stay_unknown_and_known_extensions_are_not_sniffed(monkeypatch):
    assert probe_bytes(b"just some text\n", "README") is None
    assert probe_bytes(b"P6 not really a picture", "notes") is None
    assert probe_bytes(b"", "empty") is None
    # a known extension decides alone: Pillow is not asked about a .txt file, even one holding a PNG
    import PIL.Image

    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked")

    monkeypatch.setattr(PIL.Image, "open", refuse)
    assert probe_bytes(_bytes("PNG"), "a.txt") == {"kind": "text"}


def test_a_raw_camera_file_s_preview_is_not_taken_for_its_size():
    """A TIFF-based raw file (DNG, NEF, CR2…) starts with a reduced-resolution preview: its
    size is not the photo's, so the file gets no media rather than a wrong one."""
    out = io.BytesIO()
    Image.new("RGB", (16, 8)).save(out, "TIFF", tiffinfo={254: 1})
    assert probe_bytes(out.getvalue(), "IMG_0001.dng") is None
    assert probe_bytes(out.getvalue(), "IMG_0001") is None
    assert probe_bytes(out.getvalue(), "scan.tif") == {"kind": "image", "width": 16, "height": 8, "depth": 3}  # its extension decides


def _labelled_folder(root: Path) -> Path:
    """``train/<name>`` images without extensions and HF ``objects`` boxes in metadata.jsonl."""
    (root / "train").mkdir(parents=True)
    (root / "train/0001").write_bytes(_bytes("PNG", (64, 48)))
    (root / "train/0002").write_bytes(_bytes("JPEG", (80, 60)))
    rows = [{"file_name": n, "objects": {"bbox": [[8, 6, 16, 12]], "categories": ["cat"]}} for n in ("0001", "0002")]
    (root / "train/metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_a_labelled_folder_of_extensionless_images_exports_with_sizes(tmp_path):
    ds = Dataset.create("scans", "p")
    ds.import_annotations(_labelled_folder(tmp_path / "src"), "folders", show_progress=False)
    ds.finalize(auto_upload=True)
    assert ds.get_annotation("train/0002")["media"] == {"kind": "image", "width": 80, "height": 60, "depth": 3}

    coco = ds.export("COCO", tmp_path / "coco")
    assert coco.skipped == []
    doc = json.loads((tmp_path / "coco/annotations/train.json").read_text())
    assert sorted((im["file_name"], im["width"], im["height"]) for im in doc["images"]) == [
        ("train/0001", 64, 48), ("train/0002", 80, 60)]

    yolo = ds.export("YOLO_ULTRALYTICS", tmp_path / "yolo")
    assert yolo.skipped == []
    assert [float(x) for x in (tmp_path / "yolo/labels/train/0002.txt").read_text().split()] == [0, 0.2, 0.2, 0.2, 0.2]

    voc = ds.export("VOC", tmp_path / "voc")
    assert voc.skipped == []
    size = ET.parse(tmp_path / "voc/Annotations/0001.xml").getroot().find("size")
    assert (size.findtext("width"), size.findtext("height")) == ("64", "48")


def test_a_voc_image_named_without_an_extension_is_imported(tmp_path):
    root = tmp_path / "voc"
    image(root / "JPEGImages/frame7", 50, 40, "JPEG")
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations/frame7.xml").write_text(
        "<annotation><filename>frame7</filename><object><name>cat</name>"
        "<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>10</xmax><ymax>12</ymax></bndbox></object></annotation>", encoding="utf-8")
    ds = Dataset.create("frames", "p")
    report = ds.import_annotations(root, "voc", show_progress=False)
    assert report.skipped == [] and report.files_added == 1
    ann = ds.get_annotation("frame7")
    assert ann["media"] == {"kind": "image", "width": 50, "height": 40, "depth": 3}
    assert ann["regions"][0]["label"] == "cat"


def test_the_ui_shows_an_extensionless_image(tmp_path):
    from dagstore.ui import create_app

    ds = Dataset.create("scans", "p")
    ds.import_annotations(_labelled_folder(tmp_path / "src"), "folders", show_progress=False)
    ds.finalize(auto_upload=True)
    with TestClient(create_app(Store()), base_url="http://127.0.0.1") as tc:
        v = f"/versions/{ds.id}"
        listing = tc.get(f"{v}/grid").text
        assert "/thumb?path=train/0001" in listing
        thumb = tc.get(f"{v}/thumb", params={"path": "train/0001"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        page = tc.get(f"{v}/preview", params={"path": "train/0002"}).text
        assert 'id="preview"><img' in page
        raw = tc.get(f"{v}/raw", params={"path": "train/0002"})
        assert raw.headers["content-type"] == "image/jpeg" and raw.headers["content-disposition"].startswith("inline")
        assert raw.content == (tmp_path / "src/train/0002").read_bytes()
