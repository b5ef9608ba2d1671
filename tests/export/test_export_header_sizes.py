"""Images the version has no size for (added unannotated, or annotated without ``media``) get
their width and height from the image header in COCO and VOC, whose readers need them; an
unreadable header is reported, not written as a wrong size."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from dagstore import Dataset
from dagstore.export.run import export_view
from export_fixtures import image_bytes, img_ann, make_view
from helpers import write_tree

_BOX = {"id": "r1", "type": "box", "label": "cat", "xywh": [2.0, 3.0, 10.0, 8.0]}
_UNREADABLE = "no image size: the version has none (media.width/height) and the image's header could not be read"


@pytest.fixture
def unsized(tmp_path: Path) -> Dataset:
    """a.jpg unannotated (40x30), b.png annotated without media (25x17), c.jpg sized by its
    annotation (its real header says 11x9), d.jpg not an image at all."""
    write_tree(tmp_path / "src", {"a.jpg": image_bytes(40, 30), "b.png": image_bytes(25, 17, "PNG"),
                                  "c.jpg": image_bytes(11, 9), "d.jpg": b"not an image"})
    ds = Dataset.create("sizes", "vision")
    ds.add_files(tmp_path / "src", show_progress=False)
    ds.add_classes(["cat"])
    ds.set_annotation("b.png", {"split": "train", "labels": ["cat"]})
    ds.set_annotation("c.jpg", img_ann(64, 48, regions=[_BOX]))
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def _versions_built() -> list[str]:
    root = Path(os.environ["DAGSTORE_CACHE_DIR"])
    return [p.name for p in root.rglob("*") if p.is_dir() and p.parent.name == "versions"]


@pytest.mark.parametrize("media", [True, False])
def test_coco_images_get_their_size_from_the_header(unsized: Dataset, tmp_path: Path, media: bool) -> None:
    from pycocotools.coco import COCO

    rep = unsized.export("COCO", tmp_path / "out", include_media=media)
    coco = COCO(str(tmp_path / "out/annotations/train.json"))
    sizes = {img["file_name"]: (img.get("width"), img.get("height")) for img in coco.imgs.values()}
    assert sizes == {"train/a.jpg": (40, 30), "train/b.png": (25, 17), "train/c.jpg": (64, 48), "train/d.jpg": (None, None)}
    assert {"path": "d.jpg", "reason": _UNREADABLE} in rep.skipped
    assert not any(s["path"] != "d.jpg" and "size" in s["reason"] for s in rep.skipped)
    if not media:  # the headers were read in place: no local copy was made for them
        assert _versions_built() == []


def test_voc_size_from_the_header_and_none_when_unreadable(unsized: Dataset, tmp_path: Path) -> None:
    import xmltodict

    rep = unsized.export("VOC", tmp_path / "out", include_media=False)
    docs = {n: xmltodict.parse((tmp_path / f"out/Annotations/{n}.xml").read_bytes())["annotation"] for n in "abcd"}
    assert {n: (d["size"]["width"], d["size"]["height"]) for n, d in docs.items() if n != "d"} == {
        "a": ("40", "30"), "b": ("25", "17"), "c": ("64", "48")}
    assert "size" not in docs["d"]
    assert {"path": "d.jpg", "reason": _UNREADABLE} in rep.skipped


def test_sized_images_read_no_content(tmp_path: Path) -> None:
    """The common path: every size known from the annotations, no file is opened."""
    files = {f"i{k}.jpg": (image_bytes(8, 8), img_ann(32, 24, regions=[_BOX])) for k in range(3)}
    view = make_view(tmp_path / "root", files, ["cat"])

    def refuse(path: str) -> None:
        raise AssertionError(f"{path} was opened")

    view.open = refuse  # type: ignore[method-assign]
    view.open_head = refuse  # type: ignore[method-assign]
    for fmt in ("COCO", "VOC"):
        rep = export_view(view, fmt, tmp_path / fmt, include_media=False)
        assert rep.skipped == []


def test_a_header_beyond_pillows_pixel_limit_is_reported_not_fatal(tmp_path: Path) -> None:
    """Pillow refuses to open an image of more than twice ``MAX_IMAGE_PIXELS`` (a header is enough)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 20000, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    view = make_view(tmp_path / "root", {"huge.png": (huge, {}), "ok.jpg": (image_bytes(9, 7), {})}, ["cat"])
    rep = export_view(view, "COCO", tmp_path / "out", include_media=False)
    images = json.loads((tmp_path / "out/annotations/train.json").read_text())["images"]
    assert [(i["file_name"], i.get("width"), i.get("height")) for i in images] == [("train/huge.png", None, None), ("train/ok.jpg", 9, 7)]
    assert rep.skipped == [{"path": "huge.png", "reason": _UNREADABLE}]
